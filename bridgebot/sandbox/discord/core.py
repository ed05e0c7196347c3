"""The shared inside of the fake Discord: its records, state and event fan-out.

:class:`DiscordCore` holds the world (:class:`~bridgebot.sandbox.discord.state.DiscordWorld`),
the recorded calls, the gateway sessions, and hands each world event to the sessions allowed to
see it. The REST routes live in :mod:`bridgebot.sandbox.discord.routes`, the gateway in
:mod:`bridgebot.sandbox.discord.gateway`, the test-facing actions in
:mod:`bridgebot.sandbox.discord.driver`; :class:`~bridgebot.sandbox.discord.FakeDiscord` puts
them together.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bridgebot.sandbox.discord.state import (
    JSON,
    BotAccount,
    DiscordAPIError,
    DiscordWorld,
    Dispatch,
    Intents,
    missing_access,
    strip_content,
)

if TYPE_CHECKING:
    from bridgebot.sandbox.discord.state import InteractionRecord


@dataclass
class RecordedCall:
    """One REST request as the fake saw it.

    ``path`` is relative to the API base (``/channels/1/messages``); ``json`` is the
    request body (for multipart requests the decoded ``payload_json`` plus a
    ``files`` list: each part's ``field`` (``files[n]``), ``filename`` and ``size``);
    ``headers`` are the *response* headers (rate-limit headers live there) and
    ``request_headers`` the request's.
    """

    method: str
    path: str
    query: dict[str, str]
    json: Any
    status: int
    response: Any
    headers: dict[str, str]
    at: float
    request_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stats:
    requests: int = 0
    too_many_requests: int = 0
    gateway_connections: int = 0
    identifies: int = 0
    resumes: int = 0
    invalid_sessions: int = 0
    heartbeats: int = 0
    dispatches: int = 0
    replayed: int = 0


@dataclass(frozen=True)
class RateLimitRule:
    limit: int
    per: float  # seconds


@dataclass
class RateLimitConfig:
    """Discord's limits, as published in the docs and observed in response headers.

    * channel_messages: bot messages are limited to 5 per 5 s per channel.
    * webhook_execute: 5 requests per 2 s per webhook.
    * webhook_channel: webhooks share roughly 30 messages per minute per channel
      (observed, undocumented; answered with scope ``shared``); a thread is a channel of
      its own, so each thread of a forum has its own 30.
    * global_requests: 50 requests per second per bot token.
    * default: every other route gets its own 50 per 1 s bucket, so headers are
      present on every response as on Discord.
    """

    channel_messages: RateLimitRule = RateLimitRule(5, 5.0)
    webhook_execute: RateLimitRule = RateLimitRule(5, 2.0)
    webhook_channel: RateLimitRule | None = RateLimitRule(30, 60.0)
    global_requests: RateLimitRule = RateLimitRule(50, 1.0)
    default: RateLimitRule = RateLimitRule(50, 1.0)


@dataclass
class _Window:
    start: float
    count: int = 0


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: Any
    times: int
    headers: dict[str, str]


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    transport: Any
    compressor: Any | None
    queue: asyncio.Queue[str | tuple[str, int]] = field(default_factory=asyncio.Queue)
    session: _Session | None = None
    writer: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Session:
    id: str
    bot: BotAccount
    intents: int
    shard: list[int] | None
    seq: int = 0
    log: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=10_000))
    conn: _Connection | None = None
    resumable: bool = True
    ready: bool = False


@dataclass
class _Ctx:
    request: web.Request
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: list[tuple[str, bytes, str]]
    bot: BotAccount | None


Handler = Callable[[_Ctx], Awaitable[tuple[int, Any]]]

#: A REST route: HTTP method, path template, handler, whether it needs a bot token, rate-limit rule.
RouteSpec = tuple[str, str, Handler, bool, str]


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool
    rule: str


def on_shard(shard: list[int] | None, guild_id: str | None) -> bool:
    """Whether a session identified with ``shard`` ([id, count]) receives a guild's events:
    ``(guild_id >> 22) % count == id``, Discord's formula; events outside any guild (DMs)
    go to shard 0 only. A session without a shard receives everything."""
    if shard is None:
        return True
    number, count = shard
    if guild_id is None:
        return number == 0
    return (int(guild_id) >> 22) % count == number


def _guild_of(data: Any) -> str | None:
    """The ``guild_id`` a dispatch's payload names (an interaction's), if any."""
    guild_id = data.get("guild_id") if isinstance(data, dict) else None
    return str(guild_id) if guild_id is not None else None


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


class DiscordCore:
    """State and shared rules of the fake Discord; see :class:`FakeDiscord` for the arguments.
    """

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = 41_250,
        enforce_rate_limits: bool = False,
        rate_limits: RateLimitConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        gateway_compression: bool = True,
        interaction_ack_deadline: float | None = 3.0,
        max_guilds_per_shard: int = 2500,
    ) -> None:
        self.world = DiscordWorld(clock=clock)
        # A session that would handle more guilds than this is refused (4011), as on Discord.
        self.max_guilds_per_shard = max_guilds_per_shard
        self.world.on_dispatch = self._dispatch
        self.world.on_change = self._notify
        self.clock = clock
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.enforce_rate_limits = enforce_rate_limits
        self.rate_limits = rate_limits or RateLimitConfig()
        self.gateway_compression = gateway_compression
        self.interaction_ack_deadline = interaction_ack_deadline
        self.calls: list[RecordedCall] = []
        self.stats = Stats()
        self.presence_updates: list[Any] = []  # as the gateway received them
        self._faults: list[_Fault] = []
        self._windows: dict[tuple[str, str], _Window] = {}
        self._sessions: dict[str, _Session] = {}
        self._connections: set[_Connection] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._routes = self._build_routes()

    if TYPE_CHECKING:  # defined by the parts FakeDiscord combines; declared for the others
        @property
        def gateway_url(self) -> str: ...
        def webhooks(self, channel_id: str) -> list[JSON]: ...
        async def _close_connection(self, conn: _Connection, code: int) -> None: ...
        def _forum_post(self, forum: JSON, author: JSON, name: str, message: JSON,
                        body: JSON | None) -> JSON: ...
        def _bare_thread(self, channel: JSON, author: JSON, name: str, kind: int,
                         body: JSON | None) -> JSON: ...
        def _thread_from_message(self, channel: JSON, author: JSON, message_id: str, name: str,
                                 body: JSON | None) -> JSON: ...
        def _interaction_message(self, record: InteractionRecord, data: JSON, flags: int,
                                 attachments: list[JSON] | None = None) -> JSON: ...
        def _interaction_for_webhook(self, ctx: _Ctx) -> InteractionRecord | None: ...
        def _interaction_message_id(self, record: InteractionRecord, message_id: str) -> str: ...

    def _build_routes(self) -> list[_Route]:
        """Every REST route; the server class gathers the route modules'."""
        raise NotImplementedError

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _dispatch(self, dispatch: Dispatch) -> None:
        world = self.world
        for session in list(self._sessions.values()):
            if not session.resumable and session.conn is None:
                del self._sessions[session.id]  # ended: nobody can resume it any more
                continue
            bot = session.bot
            if dispatch.application_id and bot.application_id != dispatch.application_id:
                continue
            if dispatch.intent is not None and not session.intents & dispatch.intent:
                continue
            if dispatch.guild_id is not None:
                record = world.guilds.get(dispatch.guild_id)
                if record is None or bot.id not in record.members:
                    continue
            if dispatch.channel_id is not None and not world.can_view(bot.id, dispatch.channel_id):
                continue
            if not on_shard(session.shard, dispatch.guild_id or _guild_of(dispatch.data)):
                continue
            data = dispatch.data
            if dispatch.render is not None:
                rendered = dispatch.render(bot, session.intents)
                if rendered is None:
                    continue
                data = rendered
            if dispatch.is_message and not session.intents & Intents.MESSAGE_CONTENT:
                mentioned = {m["id"] for m in data.get("mentions", [])}
                if data["author"]["id"] != bot.id and bot.id not in mentioned:
                    data = strip_content(data)
            self._send_dispatch(session, dispatch.event, data)

    def _send_dispatch(self, session: _Session, event: str, data: Any) -> None:
        session.seq += 1
        text = json.dumps({"op": 0, "s": session.seq, "t": event, "d": data})
        session.log.append((session.seq, text))
        self.stats.dispatches += 1
        if session.conn is not None:
            session.conn.queue.put_nowait(text)

    def _bot(self, ctx: _Ctx) -> BotAccount:
        assert ctx.bot is not None
        return ctx.bot

    def _visible_channel(self, ctx: _Ctx) -> JSON:
        """The path's channel, if the bot is in its guild and may view it."""
        world = self.world
        channel = world.channel(ctx.params["channel_id"])
        bot = self._bot(ctx)
        if bot.id not in world.guild(channel["guild_id"]).members:
            raise missing_access()
        if not world.can_view(bot.id, channel["id"]):
            raise missing_access()
        return channel

    def _bot_guild(self, ctx: _Ctx) -> str:
        guild_id = ctx.params["guild_id"]
        if self._bot(ctx).id not in self.world.guild(guild_id).members:
            raise missing_access()
        return guild_id

    def _perms(self, ctx: _Ctx, channel: JSON) -> int:
        return self.world.permissions_for(channel["guild_id"], self._bot(ctx).id, channel["id"])

    def _attachments(self, channel_id: str, ctx: _Ctx) -> list[JSON] | None:
        """Uploaded ``files[n]`` as attachment objects, within Discord's limits: at most 10
        per message, and the guild's upload size (10 MiB; 50 MiB at boost tier 2, 100 MiB at
        3) for all of them together, else 413 with code 40005."""
        if not ctx.files:
            return None
        if len(ctx.files) > 10:
            raise DiscordAPIError(400, 50035, "Invalid Form Body", {"files": {"_errors": [
                {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}]}})
        guild = self.world.guilds.get(str(self.world.channel(channel_id).get("guild_id")))
        tier = int(guild.data.get("premium_tier") or 0) if guild is not None else 0
        limit = {2: 50, 3: 100}.get(tier, 10) * 1024 * 1024
        if sum(len(d) for _, d, _ in ctx.files) > limit:
            raise DiscordAPIError(413, 40005, "Request entity too large")
        return [self.world.add_attachment(channel_id, n, d, t) for n, d, t in ctx.files]
