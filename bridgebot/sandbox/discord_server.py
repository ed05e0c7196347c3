"""A fake Discord (REST v10 + gateway websocket) on 127.0.0.1, speaking the real wire format.

The unmodified discord.py ``Client`` runs against it once its route base points
here (see :func:`bridgebot.adapters.discord.endpoint.use_api_base`), so adapter
tests exercise discord.py's real parsing, rate-limit bucket handling, RESUME
logic and interaction plumbing instead of mocks.  It also backs the offline
``bridgebot demo``.

Typical use::

    async with FakeDiscord() as dc:
        token = dc.add_bot("bridgebot")
        guild = dc.add_guild("Town Hall")
        general = dc.add_text_channel(guild["id"], "general")
        alice = dc.add_member(guild["id"], "alice")
        ...  # start discord.py against dc.api_base / dc.gateway_url
        dc.user_sends(general["id"], alice, "hello")

World state and wire shapes live in :mod:`bridgebot.sandbox.discord_state`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import math
import re
import secrets
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bridgebot.sandbox.discord_state import (
    JSON,
    BotAccount,
    ChannelType,
    DiscordAPIError,
    DiscordWorld,
    Dispatch,
    Intents,
    InteractionRecord,
    MessageFlags,
    MessageType,
    Permissions,
    form_error,
    missing_access,
    missing_permissions,
    new_token,
    strip_content,
    thread_archived,
    validate_webhook_name,
)

__all__ = [
    "ChannelType",
    "DiscordAPIError",
    "FakeDiscord",
    "Intents",
    "InteractionCallback",
    "InteractionHandle",
    "Permissions",
    "RateLimitConfig",
    "RateLimitRule",
    "RecordedCall",
    "Stats",
]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}
_NOT_FOUND = {"message": "404: Not Found", "code": 0}


# ----------------------------------------------------------------- records


@dataclass
class RecordedCall:
    """One REST request as the fake saw it.

    ``path`` is relative to the API base (``/channels/1/messages``); ``json`` is the
    request body (for multipart requests the decoded ``payload_json`` plus a
    ``files`` list); ``headers`` are the *response* headers (rate-limit headers
    live there) and ``request_headers`` the request's.
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
      (observed, undocumented; answered with scope ``shared``).
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


@dataclass
class InteractionCallback:
    """What the bot answered to an interaction (``POST .../callback``)."""

    type: int
    data: JSON
    flags: int
    at: float

    @property
    def content(self) -> str | None:
        return self.data.get("content")

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & MessageFlags.EPHEMERAL)


class InteractionHandle:
    """A slash-command invocation made by a test user; await the bot's answer on it."""

    def __init__(self, dc: FakeDiscord, record: InteractionRecord) -> None:
        self._dc = dc
        self._record = record

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def token(self) -> str:
        return self._record.token

    @property
    def payload(self) -> JSON:
        """The INTERACTION_CREATE data that was dispatched."""
        return copy.deepcopy(self._record.payload)

    @property
    def callback(self) -> InteractionCallback | None:
        raw = self._record.callback
        if raw is None:
            return None
        data = raw.get("data") or {}
        return InteractionCallback(
            int(raw["type"]), data, int(data.get("flags") or 0), self._record.callback_at or 0.0
        )

    async def response(self, timeout: float = 5.0) -> InteractionCallback:
        """Wait until the bot acknowledged the interaction (type 4, 5, ...)."""
        await self._dc.wait_for(lambda: self._record.callback is not None, timeout)
        callback = self.callback
        assert callback is not None
        return callback

    @property
    def original(self) -> JSON | None:
        """The @original response message as it currently stands (edits applied)."""
        message_id = self._record.original_message_id
        if message_id is None:
            return None
        msg = self._dc.world.messages.get(self._record.channel_id, {}).get(message_id)
        return None if msg is None else self._dc.world.render_message(msg)

    @property
    def followups(self) -> list[JSON]:
        msgs = self._dc.world.messages.get(self._record.channel_id, {})
        return [self._dc.world.render_message(msgs[m]) for m in self._record.followup_ids if m in msgs]

    async def wait_for_followups(self, count: int = 1, timeout: float = 5.0) -> list[JSON]:
        await self._dc.wait_for(lambda: len(self.followups) >= count, timeout)
        return self.followups

    async def wait_for_original(
        self, predicate: Callable[[JSON], bool] | None = None, timeout: float = 5.0
    ) -> JSON:
        """Wait for @original to exist (and satisfy ``predicate``, e.g. a finished edit)."""

        def check() -> JSON | None:
            original = self.original
            if original is not None and (predicate is None or predicate(original)):
                return original
            return None

        return await self._dc.wait_for(check, timeout)


# ----------------------------------------------------------------- gateway


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


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool
    rule: str


def _compile(template: str) -> re.Pattern[str]:
    def group(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ("webhook_token", "interaction_token"):
            return rf"(?P<{name}>[^/]+)"
        if name == "message_id":
            return rf"(?P<{name}>\d+|@original)"
        if name == "emoji":
            return rf"(?P<{name}>[^/]+)"
        return rf"(?P<{name}>\d+)"

    return re.compile("^" + re.sub(r"\{(\w+)\}", group, template) + "/?$")


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


class FakeDiscord:
    """Fake Discord server: REST under ``api_base``, gateway at ``gateway_url``.

    Parameters are the knobs tests need: ``heartbeat_interval_ms`` (Discord uses
    41250), ``enforce_rate_limits`` with ``rate_limits`` and an injectable
    ``clock`` (monotonic seconds) for windows, nonces and the interaction
    acknowledgement deadline (3 s on Discord; ``None`` disables it), and
    ``gateway_compression`` to honour ``compress=zlib-stream`` with binary frames
    as Discord does (text frames otherwise; discord.py reads both).
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
    ) -> None:
        self.world = DiscordWorld(clock=clock)
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
        self.presence_updates: list[JSON] = []
        self._faults: list[_Fault] = []
        self._windows: dict[tuple[str, str], _Window] = {}
        self._sessions: dict[str, _Session] = {}
        self._connections: set[_Connection] = set()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._routes = self._build_routes()

    # ----------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on loopback only; ``port=0`` picks a free port."""
        if host not in _LOOPBACK:
            raise ValueError(f"FakeDiscord only listens on loopback, not {host!r}")
        app = web.Application(client_max_size=25 * 1024 * 1024)
        app.router.add_route("*", r"/api/v{version:\d+}/{tail:.*}", self._handle_api)
        app.router.add_route("*", "/api/{tail:.*}", self._handle_api)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/attachments/{tail:.*}", self._handle_attachment)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server  # the bound socket is the only source of the real port
        assert server is not None
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.world.base_url = self.url

    async def stop(self) -> None:
        for conn in list(self._connections):
            await self._close_connection(conn, 1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    # ---------------------------------------------------------- driver API

    def add_bot(
        self,
        username: str = "bridgebot",
        application_id: str | int | None = None,
        *,
        privileged_intents: int = Intents.PRIVILEGED,
    ) -> str:
        """Register a bot application; returns its token (send as ``Bot <token>``).

        ``privileged_intents`` are the portal toggles; identifying with a
        privileged intent that is not enabled closes the gateway with 4014.
        """
        app_id = None if application_id is None else str(application_id)
        return self.world.add_bot(username, app_id, privileged_intents).token

    def bot_user(self, token: str | None = None) -> JSON:
        bot = self.world.bot_by_token(token) if token else self.world.default_bot()
        assert bot is not None
        return copy.deepcopy(bot.user)

    def application_id(self, token: str | None = None) -> str:
        bot = self.world.bot_by_token(token) if token else self.world.default_bot()
        assert bot is not None
        return bot.application_id

    def add_guild(self, name: str) -> JSON:
        return self.world.add_guild(name)

    def add_role(self, guild_id: str, name: str, permissions: int) -> JSON:
        return self.world.add_role(str(guild_id), name, permissions)

    def add_member(
        self,
        guild_id: str,
        username: str,
        global_name: str | None = None,
        roles: Iterable[str] = (),
        locale: str = "en-US",
    ) -> JSON:
        return self.world.add_member(str(guild_id), username, global_name, roles, locale)

    def set_member_roles(self, guild_id: str, user: JSON | str, roles: Iterable[str]) -> None:
        self.world.set_member_roles(str(guild_id), _uid(user), roles)

    def add_text_channel(self, guild_id: str, name: str, *, topic: str | None = None) -> JSON:
        return self.world.add_text_channel(str(guild_id), name, topic=topic)

    def add_forum_channel(
        self, guild_id: str, name: str, *, tags: Iterable[str] = (), require_tag: bool = False
    ) -> JSON:
        return self.world.add_forum_channel(str(guild_id), name, tags=tags, require_tag=require_tag)

    def set_channel_overwrite(
        self, channel_id: str, target_id: str, *, allow: int = 0, deny: int = 0, member: bool = False
    ) -> JSON:
        """Per-channel permission overwrite for a role (or a member with ``member=True``)."""
        return self.world.set_overwrite(
            str(channel_id), str(target_id), allow=allow, deny=deny, kind=1 if member else 0
        )

    def set_bot_permissions(self, guild_id: str, perms: int, token: str | None = None) -> None:
        """Set the permissions of the bot's managed role (@everyone still applies)."""
        bot = self.world.bot_by_token(token) if token else self.world.default_bot()
        assert bot is not None
        self.world.set_role_permissions(str(guild_id), bot.roles[str(guild_id)], perms)

    def delete_channel(self, channel_id: str) -> None:
        """Delete a channel or thread; later requests get ``Unknown Channel`` (10003)."""
        self.world.delete_channel(str(channel_id))

    def user_sends(
        self,
        channel_id: str,
        user: JSON | str,
        content: str,
        reply_to: str | JSON | None = None,
        *,
        embeds: list[JSON] | None = None,
        allowed_mentions: JSON | None = None,
        attachments: Iterable[tuple[str, bytes, str]] = (),
    ) -> JSON:
        """A member posts a message (MESSAGE_CREATE follows), with Discord's checks."""
        world = self.world
        channel_id = str(channel_id)
        author = world._public_user(world.users[_uid(user)])
        world.check_can_post(channel_id, author["id"])
        reference = None
        if reply_to is not None:
            reference = {"message_id": _uid(reply_to), "channel_id": channel_id}
        files = [world.add_attachment(channel_id, n, d, t) for n, d, t in attachments]
        return world.create_message(
            channel_id,
            author,
            content=content,
            embeds=embeds,
            allowed_mentions=allowed_mentions,
            message_reference=reference,
            attachments=files or None,
        )

    def user_edits(self, channel_id: str, message_id: str, content: str) -> JSON:
        channel_id, message_id = str(channel_id), str(message_id)
        msg = self.world.message(channel_id, message_id)
        perms = self.world.permissions_for(
            self.world.channel(channel_id)["guild_id"], msg["author"]["id"], channel_id
        )
        return self.world.edit_message(channel_id, message_id, {"content": content}, editor_perms=perms)

    def user_deletes(self, channel_id: str, message_id: str) -> None:
        self.world.delete_message(str(channel_id), str(message_id))

    def user_starts_thread(
        self,
        channel_id: str,
        user: JSON | str,
        name: str,
        *,
        content: str | None = None,
        message_id: str | None = None,
    ) -> JSON:
        """Forum post (needs ``content``), thread from a message, or a bare text thread."""
        world = self.world
        channel = world.channel(str(channel_id))
        author = world._public_user(world.users[_uid(user)])
        if channel["type"] == ChannelType.GUILD_FORUM:
            if not content:
                raise ValueError("a forum post needs a starter message")
            return self._forum_post(channel, author, name, {"content": content}, None)
        if message_id is not None:
            return self._thread_from_message(channel, author, str(message_id), name, None)
        return self._bare_thread(channel, author, name, ChannelType.PUBLIC_THREAD, None)

    def set_thread_state(
        self, thread_id: str, *, archived: bool | None = None, locked: bool | None = None
    ) -> JSON:
        """A moderator archives/locks a thread (THREAD_UPDATE follows)."""
        return self.world.update_thread(str(thread_id), {"archived": archived, "locked": locked})

    def invoke_command(
        self,
        user: JSON | str,
        guild_id: str,
        channel_id: str,
        name: str,
        options: Mapping[str, Any] | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A member runs ``/name`` (``"group sub"`` for subcommands): INTERACTION_CREATE.

        The command must be registered (synced) for the guild or globally, and the
        member must satisfy its ``default_member_permissions``, as in the Discord
        client. Option types come from the registered definition.
        """
        world = self.world
        guild_id, channel_id = str(guild_id), str(channel_id)
        path = name.split()
        command = world.find_command(guild_id, path[0])
        bot = world.bot_by_application(command["application_id"])
        assert bot is not None
        user_id = _uid(user)
        member = world.member(guild_id, user_id)
        perms = world.permissions_for(guild_id, user_id, channel_id)
        required = command.get("default_member_permissions")
        if required is not None and perms & int(required) != int(required):
            raise PermissionError(f"{user_id} may not use /{path[0]} (needs {required})")
        resolved: JSON = {}
        built = self._command_options(command["options"], path[1:], dict(options or {}), resolved, guild_id)
        data: JSON = {"id": command["id"], "name": command["name"], "type": 1, "options": built}
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return self._interaction_create(bot, user_id, member, guild_id, channel_id, perms, data, locale)

    def invoke_message_command(
        self,
        user: JSON | str,
        guild_id: str,
        channel_id: str,
        name: str,
        message_id: str,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A member picks Apps → ``name`` on a message: a message context-menu command (type 3).

        As in the Discord client, the command must be registered and the member must
        satisfy its ``default_member_permissions``; the interaction carries the target
        message in ``data.resolved.messages``.
        """
        world = self.world
        guild_id, channel_id, message_id = str(guild_id), str(channel_id), str(message_id)
        command = world.find_command(guild_id, name, command_type=3)
        bot = world.bot_by_application(command["application_id"])
        assert bot is not None
        user_id = _uid(user)
        member = world.member(guild_id, user_id)
        perms = world.permissions_for(guild_id, user_id, channel_id)
        required = command.get("default_member_permissions")
        if required is not None and perms & int(required) != int(required):
            raise PermissionError(f"{user_id} may not use {name!r} (needs {required})")
        target = world.render_message(world.message(channel_id, message_id))
        data: JSON = {"id": command["id"], "name": command["name"], "type": 3,
                      "target_id": message_id, "resolved": {"messages": {message_id: target}}}
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        return self._interaction_create(bot, user_id, member, guild_id, channel_id, perms, data, locale)

    def _interaction_create(
        self, bot: BotAccount, user_id: str, member: JSON, guild_id: str, channel_id: str, perms: int,
        data: JSON, locale: str,
    ) -> InteractionHandle:
        world = self.world
        interaction_id = world.snowflakes.next()
        token = new_token("aW50ZXJhY3Rpb246")
        channel = copy.deepcopy(world.channel(channel_id))
        channel["permissions"] = str(perms)
        member_payload = copy.deepcopy(member)
        member_payload["permissions"] = str(perms)
        guild = world.guild(guild_id)
        payload: JSON = {
            "id": interaction_id,
            "application_id": bot.application_id,
            "type": 2,
            "data": data,
            "guild_id": guild_id,
            "guild": {"id": guild_id, "locale": guild.data["preferred_locale"], "features": []},
            "channel_id": channel_id,
            "channel": channel,
            "member": member_payload,
            "token": token,
            "version": 1,
            "app_permissions": str(world.permissions_for(guild_id, bot.id, channel_id)),
            "locale": locale,
            "guild_locale": guild.data["preferred_locale"],
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": guild_id},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        record = InteractionRecord(
            interaction_id,
            token,
            bot.application_id,
            guild_id,
            channel_id,
            copy.deepcopy(member["user"]),
            payload,
            self.clock(),
        )
        world.interactions[interaction_id] = record
        world._emit(Dispatch("INTERACTION_CREATE", payload, intent=None, application_id=bot.application_id))
        return InteractionHandle(self, record)

    def _command_options(
        self,
        definitions: list[JSON],
        path: list[str],
        values: dict[str, Any],
        resolved: JSON,
        guild_id: str,
    ) -> list[JSON]:
        if path:
            sub = next((o for o in definitions if o["name"] == path[0] and o["type"] in (1, 2)), None)
            if sub is None:
                raise KeyError(f"no subcommand {path[0]!r}")
            inner = self._command_options(sub.get("options") or [], path[1:], values, resolved, guild_id)
            return [{"name": sub["name"], "type": sub["type"], "options": inner}]
        out = []
        for definition in definitions:
            if definition["name"] not in values and definition.get("required"):
                raise ValueError(f"required option {definition['name']!r} missing")
        for key, value in values.items():
            definition = next((o for o in definitions if o["name"] == key), None)
            if definition is None:
                raise KeyError(f"command has no option {key!r}")
            kind = int(definition["type"])
            if kind == 6:
                value = _uid(value)
                resolved.setdefault("users", {})[value] = self.world._public_user(self.world.users[value])
                member = self.world.guild(guild_id).members.get(value)
                if member is not None:
                    partial = {k: v for k, v in member.items() if k != "user"}
                    resolved.setdefault("members", {})[value] = copy.deepcopy(partial)
            elif kind == 7:
                value = _uid(value)
                resolved.setdefault("channels", {})[value] = copy.deepcopy(self.world.channel(value))
            elif kind == 8:
                value = _uid(value)
                role = self.world.guild(guild_id).roles[value]
                resolved.setdefault("roles", {})[value] = copy.deepcopy(role)
            out.append({"name": key, "type": kind, "value": value})
        return out

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Any = None,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``/``body``.

        ``path_regex`` is searched in the path relative to the API base
        (``/channels/123/messages``); ``method`` may be ``"*"``. A 429 body with
        ``retry_after`` gets ``Retry-After`` and scope headers automatically.
        """
        self._faults.append(
            _Fault(method.upper(), re.compile(path_regex), status, body, times, dict(headers or {}))
        )

    async def disconnect_gateway(self, code: int | None = 4000, resumable: bool = True) -> None:
        """Drop every gateway connection, as a Discord node restart would.

        With ``code`` a close frame is sent (4000 lets discord.py RESUME);
        ``None`` aborts the TCP connection without one. Sessions stay resumable
        unless ``resumable=False``, in which case a RESUME gets INVALID_SESSION.
        Dispatches emitted while disconnected are replayed on RESUME.
        """
        for conn in list(self._connections):
            session = conn.session
            if session is not None:
                session.conn = None
                session.resumable = resumable
            conn.session = None
            if code is None:
                if conn.transport is not None:
                    conn.transport.abort()
            else:
                await self._close_connection(conn, code)

    def send_reconnect(self) -> None:
        """Send op 7 RECONNECT to every connected client."""
        for conn in self._connections:
            conn.queue.put_nowait(json.dumps({"op": 7, "d": None, "s": None, "t": None}))

    def invalidate_sessions(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; ``resumable=False`` forces a fresh IDENTIFY."""
        for conn in self._connections:
            if conn.session is not None and not resumable:
                conn.session.resumable = False
            self.stats.invalid_sessions += 1
            conn.queue.put_nowait(json.dumps({"op": 9, "d": resumable, "s": None, "t": None}))

    # ----------------------------------------------------------- inspection

    @property
    def gateway_connected(self) -> bool:
        return any(c.session is not None and c.session.ready for c in self._connections)

    async def wait_for_ready(self, timeout: float = 5.0) -> None:
        """Wait until a bot identified (or resumed) and got READY plus its guilds."""
        await self.wait_for(lambda: self.gateway_connected, timeout)

    def channel_messages(self, channel_id: str) -> list[JSON]:
        """Messages oldest first, as a member sees them: edits applied, no deletions or ephemerals."""
        msgs = self.world.messages.get(str(channel_id), {}).values()
        return [
            self.world.render_message(m)
            for m in sorted(msgs, key=lambda m: int(m["id"]))
            if not m["flags"] & MessageFlags.EPHEMERAL
        ]

    def message(self, message_id: str) -> JSON | None:
        channel_id = self.world.message_channel.get(str(message_id))
        if channel_id is None:
            return None
        return self.world.render_message(self.world.messages[channel_id][str(message_id)])

    def webhook_avatar_url(self, message_id: str) -> str | None:
        """The ``avatar_url`` a webhook message was sent with (Discord only keeps a hash)."""
        return self.world.webhook_avatar_urls.get(str(message_id))

    def channel(self, channel_id: str) -> JSON | None:
        channel = self.world.channels.get(str(channel_id))
        return copy.deepcopy(channel) if channel else None

    def threads(self, parent_id: str) -> list[JSON]:
        return self.world.threads_of(str(parent_id))

    def webhooks(self, channel_id: str) -> list[JSON]:
        return [
            copy.deepcopy(w)
            for w in self.world.webhook_records.values()
            if w["channel_id"] == str(channel_id)
        ]

    def commands(self, guild_id: str | None = None, token: str | None = None) -> list[JSON]:
        bot = self.world.bot_by_token(token) if token else self.world.default_bot()
        assert bot is not None
        return self.world.commands_for(bot.application_id, None if guild_id is None else str(guild_id))

    def calls_to(self, method: str, path_regex: str) -> list[RecordedCall]:
        pattern = re.compile(path_regex)
        return [c for c in self.calls if c.method == method.upper() and pattern.search(c.path)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy and return its value.

        Re-checked on every state change and at least every 20 ms, so predicates
        over client-side state (e.g. what an on_message handler collected) work too.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.02))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------ dispatch

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

    # ------------------------------------------------------------- gateway

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        self.stats.gateway_connections += 1
        compress = request.query.get("compress")
        compressor = zlib.compressobj() if compress == "zlib-stream" and self.gateway_compression else None
        conn = _Connection(ws, request.transport, compressor)
        self._connections.add(conn)
        conn.writer = asyncio.create_task(self._writer(conn))
        try:
            version = request.query.get("v", "10")
            if version not in ("9", "10"):
                await self._close_connection(conn, 4012)
                return ws
            if request.query.get("encoding", "json") != "json":
                await self._close_connection(conn, 4002)
                return ws
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]}
            conn.queue.put_nowait(json.dumps({"op": 10, "d": hello, "s": None, "t": None}))
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await self._close_connection(conn, 4002)
                    break
                if not await self._handle_op(conn, payload):
                    break
        finally:
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                if ws.close_code in (1000, 1001):
                    # A client's clean close ends its session, as on Discord.
                    session.resumable = False
            self._connections.discard(conn)
            if conn.writer is not None:
                conn.writer.cancel()
            self._notify()
        return ws

    async def _writer(self, conn: _Connection) -> None:
        while True:
            item = await conn.queue.get()
            if isinstance(item, tuple):
                await conn.ws.close(code=item[1])
                return
            try:
                if conn.compressor is not None:
                    data = conn.compressor.compress(item.encode()) + conn.compressor.flush(zlib.Z_SYNC_FLUSH)
                    await conn.ws.send_bytes(data)
                else:
                    await conn.ws.send_str(item)
            except (ConnectionError, RuntimeError):
                return

    async def _close_connection(self, conn: _Connection, code: int) -> None:
        if conn.writer is not None:
            conn.writer.cancel()
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code)

    async def _handle_op(self, conn: _Connection, payload: JSON) -> bool:
        op = payload.get("op")
        data = payload.get("d")
        if op == 1:
            self.stats.heartbeats += 1
            conn.queue.put_nowait(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
            return True
        if op == 2:
            return await self._identify(conn, data or {})
        if op == 6:
            return await self._resume(conn, data or {})
        if conn.session is None:
            await self._close_connection(conn, 4003)  # Not authenticated
            return False
        if op == 3:
            self.presence_updates.append(data)
            return True
        if op == 4:
            return True
        if op == 8:
            self._request_members(conn.session, data or {})
            return True
        await self._close_connection(conn, 4001)  # Unknown opcode
        return False

    async def _identify(self, conn: _Connection, data: JSON) -> bool:
        self.stats.identifies += 1
        if conn.session is not None:
            await self._close_connection(conn, 4005)  # Already authenticated
            return False
        bot = self.world.bot_by_token(str(data.get("token", "")).removeprefix("Bot "))
        if bot is None:
            await self._close_connection(conn, 4004)  # Authentication failed
            return False
        intents = data.get("intents")
        if not isinstance(intents, int) or intents & ~Intents.ALL:
            await self._close_connection(conn, 4013)  # Invalid intent(s)
            return False
        if intents & Intents.PRIVILEGED & ~bot.privileged_intents:
            await self._close_connection(conn, 4014)  # Disallowed intent(s)
            return False
        session = _Session(secrets.token_hex(16), bot, intents, data.get("shard"))
        self._sessions[session.id] = session
        session.conn = conn
        conn.session = session
        user = dict(copy.deepcopy(bot.user), verified=True, mfa_enabled=False, email=None, bot=True)
        guild_ids = [g.id for g in self.world.guilds.values() if bot.id in g.members]
        ready: JSON = {
            "v": 10,
            "user_settings": {},
            "user": user,
            "guilds": [{"id": gid, "unavailable": True} for gid in guild_ids],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": bot.application_id, "flags": bot.application["flags"]},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["local"],
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        self._send_dispatch(session, "READY", ready)
        for guild_id in guild_ids:
            if intents & Intents.GUILDS:
                payload = self.world.guild_create_payload(guild_id, bot, intents)
                self._send_dispatch(session, "GUILD_CREATE", payload)
        session.ready = True
        self._notify()
        return True

    async def _resume(self, conn: _Connection, data: JSON) -> bool:
        session = self._sessions.get(str(data.get("session_id")))
        token = str(data.get("token", "")).removeprefix("Bot ")
        seq = data.get("seq") or 0
        oldest = session.log[0][0] if session and session.log else 1
        if (
            session is None
            or not session.resumable
            or session.bot.token != token
            or seq > session.seq
            or seq < oldest - 1
        ):
            self.stats.invalid_sessions += 1
            conn.queue.put_nowait(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return True
        self.stats.resumes += 1
        if session.conn is not None and session.conn is not conn:
            previous = session.conn
            previous.session = None
            await self._close_connection(previous, 4000)
        session.conn = conn
        conn.session = session
        for entry_seq, text in list(session.log):
            if entry_seq > seq:
                conn.queue.put_nowait(text)
                self.stats.replayed += 1
        self._send_dispatch(session, "RESUMED", {"_trace": ["fake-gateway"]})
        session.ready = True
        self._notify()
        return True

    def _request_members(self, session: _Session, data: JSON) -> None:
        guild_id = str(data.get("guild_id"))
        record = self.world.guilds.get(guild_id)
        if record is None or session.bot.id not in record.members:
            return
        query = str(data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        wanted = {str(u) for u in data.get("user_ids") or []}
        members = [
            m
            for uid, m in record.members.items()
            if (not wanted or uid in wanted) and m["user"]["username"].lower().startswith(query)
        ]
        if limit:
            members = members[:limit]
        chunk: JSON = {
            "guild_id": guild_id,
            "members": copy.deepcopy(members),
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if wanted:
            chunk["not_found"] = sorted(wanted - set(record.members))
        self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    # ----------------------------------------------------------------- REST

    async def _handle_attachment(self, request: web.Request) -> web.StreamResponse:
        entry = self.world.attachments.get(request.path)
        if entry is None:
            return web.Response(status=404)
        return web.Response(body=entry[1], content_type=entry[0])

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method.upper()
        query = dict(request.query)
        self.stats.requests += 1
        body: Any = None
        files: list[tuple[str, bytes, str]] = []
        status: int
        response: Any
        headers: dict[str, str] = {"Via": "1.1 google"}
        try:
            body, files = await self._read_body(request)
        except ValueError:
            status, response = 400, {"code": 50109, "message": "The request body contains invalid JSON."}
            return self._finish(request, method, path, query, None, status, response, headers)
        fault = self._take_fault(method, path)
        if fault is not None:
            status, response = fault.status, copy.deepcopy(fault.body)
            headers.update(fault.headers)
            if status == 429 and isinstance(response, dict) and "retry_after" in response:
                headers.setdefault("Retry-After", str(math.ceil(float(response["retry_after"]))))
                headers.setdefault("X-RateLimit-Scope", "global" if response.get("global") else "user")
            return self._finish(request, method, path, query, body, status, response, headers)
        route, params, allowed = self._match(method, path)
        if route is None:
            status, response = (
                (405, {"message": "405: Method Not Allowed", "code": 0}) if allowed else (404, _NOT_FOUND)
            )
            return self._finish(request, method, path, query, body, status, response, headers)
        bot = None
        if route.auth:
            auth = request.headers.get("Authorization", "")
            bot = self.world.bot_by_token(auth.removeprefix("Bot ")) if auth.startswith("Bot ") else None
            if bot is None:
                return self._finish(request, method, path, query, body, 401, _UNAUTHORIZED, headers)
        if self.enforce_rate_limits:
            limited = self._rate_limit(route, params, bot, headers)
            if limited is not None:
                return self._finish(request, method, path, query, body, 429, limited, headers)
        ctx = _Ctx(request, params, query, body, files, bot)
        try:
            status, response = await route.handler(ctx)
        except DiscordAPIError as error:
            status, response = error.status, error.body()
        return self._finish(request, method, path, query, body, status, response, headers)

    def _finish(
        self,
        request: web.Request,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        status: int,
        response: Any,
        headers: dict[str, str],
    ) -> web.Response:
        if status == 429:
            self.stats.too_many_requests += 1
        self.calls.append(
            RecordedCall(
                method,
                path,
                query,
                body,
                status,
                copy.deepcopy(response),
                dict(headers),
                self.clock(),
                dict(request.headers),
            )
        )
        self._notify()
        if status == 204 or response is None:
            return web.Response(status=status, headers=headers)
        # Exactly "application/json" (no charset), as Discord sends it: discord.py
        # compares the header verbatim before decoding JSON.
        headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=json.dumps(response).encode(), headers=headers)

    async def _read_body(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes, str]]]:
        if request.content_type.startswith("multipart/"):
            body: Any = {}
            files: list[tuple[str, bytes, str]] = []
            reader = await request.multipart()
            async for part in reader:
                if not hasattr(part, "read"):
                    continue
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    data = await part.read()  # type: ignore[union-attr]
                    content_type = part.headers.get("Content-Type", "application/octet-stream")
                    files.append((part.filename or "file", bytes(data), content_type))  # type: ignore[union-attr]
            body = dict(body, files=[{"filename": f[0], "size": len(f[1])} for f in files])
            return body, files
        raw = await request.read()
        if not raw:
            return None, []
        return json.loads(raw), []

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in ("*", method) and fault.pattern.search(path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        allowed = False
        for route in self._routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == method:
                return route, match.groupdict(), True
            allowed = True
        return None, {}, allowed

    # ---------------------------------------------------------- rate limits

    def _rate_limit(
        self, route: _Route, params: dict[str, str], bot: BotAccount | None, headers: dict[str, str]
    ) -> JSON | None:
        """Fixed windows per bucket; returns a 429 body, or None after consuming a slot."""
        config = self.rate_limits
        now = self.clock()
        major = "+".join(
            params[k] for k in ("channel_id", "guild_id", "webhook_id", "webhook_token") if k in params
        )
        rule = getattr(config, route.rule)
        checks: list[tuple[str, tuple[str, str], RateLimitRule]] = []
        if bot is not None:
            checks.append(("global", ("global", bot.token), config.global_requests))
        checks.append(("user", (route.template, major), rule))
        if route.rule == "webhook_execute" and config.webhook_channel is not None:
            hook = self.world.webhook_records.get(params.get("webhook_id", ""))
            if hook is not None:
                checks.append(("shared", ("webhook-channel", hook["channel_id"]), config.webhook_channel))
        windows = []
        for scope, key, limit in checks:
            window = self._windows.get(key)
            if window is None or now >= window.start + limit.per:
                window = _Window(now)
                self._windows[key] = window
            # Rounded up to the millisecond: a client sleeping this long must not wake
            # a hair before the window really resets.
            reset_after = math.ceil(max(0.0, window.start + limit.per - now) * 1000) / 1000
            if window.count >= limit.limit:
                retry_after = reset_after
                headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
                headers["X-RateLimit-Scope"] = scope
                if scope == "global":
                    headers["X-RateLimit-Global"] = "true"
                else:
                    self._limit_headers(headers, route, limit, window, reset_after)
                return {
                    "message": "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": scope == "global",
                }
            windows.append((scope, limit, window, reset_after))
        for _scope, _limit, window, _reset in windows:
            window.count += 1
        _scope, limit, window, reset_after = windows[1] if bot is not None else windows[0]
        self._limit_headers(headers, route, limit, window, reset_after)
        return None

    def _limit_headers(
        self,
        headers: dict[str, str],
        route: _Route,
        rule: RateLimitRule,
        window: _Window,
        reset_after: float,
    ) -> None:
        headers.update(
            {
                "X-RateLimit-Limit": str(rule.limit),
                "X-RateLimit-Remaining": str(max(0, rule.limit - window.count)),
                "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
                "X-RateLimit-Reset-After": f"{reset_after:.3f}",
                "X-RateLimit-Bucket": hashlib.sha1(route.template.encode()).hexdigest()[:32],
            }
        )

    # ------------------------------------------------------------- routing

    def _build_routes(self) -> list[_Route]:
        table: list[tuple[str, str, Handler, bool, str]] = [
            ("GET", "/gateway", self._get_gateway, False, "default"),
            ("GET", "/gateway/bot", self._get_gateway_bot, True, "default"),
            ("GET", "/users/@me", self._get_me, True, "default"),
            ("GET", "/users/@me/guilds", self._get_my_guilds, True, "default"),
            ("GET", "/users/{user_id}", self._get_user, True, "default"),
            ("GET", "/oauth2/applications/@me", self._get_application, True, "default"),
            ("GET", "/applications/@me", self._get_application, True, "default"),
            ("GET", "/applications/{application_id}/commands", self._get_commands, True, "default"),
            ("PUT", "/applications/{application_id}/commands", self._put_commands, True, "default"),
            ("POST", "/applications/{application_id}/commands", self._post_command, True, "default"),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._get_commands,
                True,
                "default",
            ),
            (
                "PUT",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._put_commands,
                True,
                "default",
            ),
            (
                "POST",
                "/applications/{application_id}/guilds/{guild_id}/commands",
                self._post_command,
                True,
                "default",
            ),
            (
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                self._interaction_callback,
                False,
                "default",
            ),
            ("GET", "/channels/{channel_id}", self._get_channel, True, "default"),
            ("PATCH", "/channels/{channel_id}", self._patch_channel, True, "default"),
            ("DELETE", "/channels/{channel_id}", self._delete_channel, True, "default"),
            ("GET", "/channels/{channel_id}/messages", self._get_messages, True, "default"),
            ("POST", "/channels/{channel_id}/messages", self._post_message, True, "channel_messages"),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message, True, "default"),
            (
                "PATCH",
                "/channels/{channel_id}/messages/{message_id}",
                self._patch_message,
                True,
                "default",
            ),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}",
                self._delete_message,
                True,
                "default",
            ),
            ("POST", "/channels/{channel_id}/typing", self._typing, True, "default"),
            ("POST", "/channels/{channel_id}/threads", self._post_thread, True, "default"),
            (
                "POST",
                "/channels/{channel_id}/messages/{message_id}/threads",
                self._post_message_thread,
                True,
                "default",
            ),
            (
                "PUT",
                "/channels/{channel_id}/thread-members/@me",
                self._join_thread,
                True,
                "default",
            ),
            (
                "DELETE",
                "/channels/{channel_id}/thread-members/@me",
                self._leave_thread,
                True,
                "default",
            ),
            (
                "GET",
                "/channels/{channel_id}/threads/archived/public",
                self._archived_threads,
                True,
                "default",
            ),
            ("GET", "/channels/{channel_id}/webhooks", self._get_channel_webhooks, True, "default"),
            ("POST", "/channels/{channel_id}/webhooks", self._post_webhook, True, "default"),
            ("GET", "/guilds/{guild_id}", self._get_guild, True, "default"),
            ("GET", "/guilds/{guild_id}/channels", self._get_guild_channels, True, "default"),
            ("GET", "/guilds/{guild_id}/members", self._get_members, True, "default"),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member, True, "default"),
            ("GET", "/guilds/{guild_id}/roles", self._get_roles, True, "default"),
            ("GET", "/guilds/{guild_id}/threads/active", self._active_threads, True, "default"),
            ("GET", "/guilds/{guild_id}/webhooks", self._get_guild_webhooks, True, "default"),
            ("GET", "/webhooks/{webhook_id}", self._get_webhook, True, "default"),
            ("PATCH", "/webhooks/{webhook_id}", self._patch_webhook, True, "default"),
            ("DELETE", "/webhooks/{webhook_id}", self._delete_webhook, True, "default"),
            ("GET", "/webhooks/{webhook_id}/{webhook_token}", self._get_webhook_token, False, "default"),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}",
                self._patch_webhook_token,
                False,
                "default",
            ),
            (
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}",
                self._delete_webhook_token,
                False,
                "default",
            ),
            (
                "POST",
                "/webhooks/{webhook_id}/{webhook_token}",
                self._execute_webhook,
                False,
                "webhook_execute",
            ),
            (
                "GET",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._get_webhook_message,
                False,
                "default",
            ),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._patch_webhook_message,
                False,
                "default",
            ),
            (
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._delete_webhook_message,
                False,
                "default",
            ),
        ]
        return [
            _Route(method, f"{method} {template}", _compile(template), handler, auth, rule)
            for method, template, handler, auth, rule in table
        ]

    # ----------------------------------------------------- access helpers

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
        if not ctx.files:
            return None
        return [self.world.add_attachment(channel_id, n, d, t) for n, d, t in ctx.files]

    # -------------------------------------------------- users / app / gw

    async def _get_gateway(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    async def _get_gateway_bot(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000 - self.stats.identifies,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    async def _get_me(self, ctx: _Ctx) -> tuple[int, Any]:
        user = copy.deepcopy(self._bot(ctx).user)
        user.update(verified=True, mfa_enabled=False, email=None, locale="en-US", premium_type=0, bio="")
        return 200, user

    async def _get_my_guilds(self, ctx: _Ctx) -> tuple[int, Any]:
        bot = self._bot(ctx)
        out = []
        for record in self.world.guilds.values():
            if bot.id in record.members:
                out.append(
                    {
                        "id": record.id,
                        "name": record.data["name"],
                        "icon": None,
                        "banner": None,
                        "owner": False,
                        "permissions": str(self.world.permissions_for(record.id, bot.id)),
                        "features": [],
                    }
                )
        return 200, out

    async def _get_user(self, ctx: _Ctx) -> tuple[int, Any]:
        user = self.world.users.get(ctx.params["user_id"])
        if user is None:
            raise DiscordAPIError(404, 10013, "Unknown User")
        return 200, self.world._public_user(user)

    async def _get_application(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._bot(ctx).application)

    # ------------------------------------------------------------ commands

    def _command_scope(self, ctx: _Ctx) -> tuple[str, str | None]:
        bot = self._bot(ctx)
        if ctx.params["application_id"] != bot.application_id:
            raise DiscordAPIError(
                403, 20012, "You are not authorized to perform this action on this application"
            )
        guild_id = ctx.params.get("guild_id")
        if guild_id is not None:
            self._bot_guild(ctx)
        return bot.application_id, guild_id

    async def _get_commands(self, ctx: _Ctx) -> tuple[int, Any]:
        app_id, guild_id = self._command_scope(ctx)
        commands = self.world.commands_for(app_id, guild_id)
        if not _truthy(ctx.query.get("with_localizations")):
            for command in commands:
                command.pop("name_localizations", None)
                command.pop("description_localizations", None)
        return 200, commands

    async def _put_commands(self, ctx: _Ctx) -> tuple[int, Any]:
        app_id, guild_id = self._command_scope(ctx)
        if not isinstance(ctx.body, list):
            raise form_error(["_errors"], "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return 200, self.world.put_commands(app_id, guild_id, ctx.body)

    async def _post_command(self, ctx: _Ctx) -> tuple[int, Any]:
        app_id, guild_id = self._command_scope(ctx)
        return 201, self.world.upsert_command(app_id, guild_id, ctx.body or {})

    # -------------------------------------------------------- interactions

    def _interaction(self, interaction_id: str, token: str) -> InteractionRecord:
        record = self.world.interactions.get(interaction_id)
        if record is None or not secrets.compare_digest(record.token, token):
            raise DiscordAPIError(404, 10062, "Unknown interaction")
        return record

    def _interaction_message(self, record: InteractionRecord, data: JSON, flags: int) -> JSON:
        bot = self.world.bot_by_application(record.application_id)
        assert bot is not None
        command = record.payload["data"]
        metadata = {
            "id": record.id,
            "type": 2,
            "user": record.user,
            "authorizing_integration_owners": record.payload["authorizing_integration_owners"],
            "name": command["name"],
            "command_type": 1,
        }
        return self.world.create_message(
            record.channel_id,
            copy.deepcopy(bot.user),
            content=data.get("content"),
            embeds=data.get("embeds"),
            allowed_mentions=data.get("allowed_mentions"),
            tts=bool(data.get("tts")),
            flags=flags,
            webhook_id=record.application_id,
            application_id=record.application_id,
            message_type=MessageType.CHAT_INPUT_COMMAND,
            interaction_metadata=metadata,
            author_perms=Permissions.ALL,
            allow_empty=bool(flags & MessageFlags.LOADING),
        )

    async def _interaction_callback(self, ctx: _Ctx) -> tuple[int, Any]:
        record = self._interaction(ctx.params["interaction_id"], ctx.params["interaction_token"])
        if record.callback is not None:
            raise DiscordAPIError(400, 40060, "Interaction has already been acknowledged.")
        deadline = self.interaction_ack_deadline
        if deadline is not None and self.clock() - record.created_at > deadline:
            raise DiscordAPIError(404, 10062, "Unknown interaction")
        body = ctx.body or {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        if kind not in (1, 4, 5, 6, 7, 8, 9, 10, 12):
            raise form_error(["type"], "BASE_TYPE_CHOICES", f"Value must be one of ... (got {kind}).")
        message = None
        if kind == 4:
            try:
                self.world.validate_message_body(data.get("content"), data.get("embeds"))
            except DiscordAPIError as error:
                raise DiscordAPIError(400, 50035, "Invalid Form Body", {"data": error.errors}) from None
            flags = int(data.get("flags") or 0) & (
                MessageFlags.EPHEMERAL | 4 | MessageFlags.SUPPRESS_NOTIFICATIONS
            )
            message = self._interaction_message(record, data, flags)
        elif kind == 5:
            flags = MessageFlags.LOADING | (int(data.get("flags") or 0) & MessageFlags.EPHEMERAL)
            message = self._interaction_message(record, {}, flags)
        record.callback = copy.deepcopy(body)
        record.callback_at = self.clock()
        if message is not None:
            record.original_message_id = message["id"]
        self._notify()
        if not _truthy(ctx.query.get("with_response")):
            return 204, None
        result: JSON = {
            "interaction": {
                "id": record.id,
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message["flags"] & MessageFlags.EPHEMERAL),
            }
        }
        if message is not None:
            result["interaction"]["response_message_id"] = message["id"]
            result["resource"] = {"type": kind, "message": message}
        return 200, result

    def _interaction_for_webhook(self, ctx: _Ctx) -> InteractionRecord | None:
        token = ctx.params["webhook_token"]
        for record in self.world.interactions.values():
            if record.application_id == ctx.params["webhook_id"] and record.token == token:
                if record.callback is None:
                    raise DiscordAPIError(404, 10015, "Unknown Webhook")
                return record
        return None

    def _interaction_message_id(self, record: InteractionRecord, message_id: str) -> str:
        if message_id == "@original":
            if record.original_message_id is None:
                raise DiscordAPIError(404, 10008, "Unknown Message")
            return record.original_message_id
        if message_id != record.original_message_id and message_id not in record.followup_ids:
            raise DiscordAPIError(404, 10008, "Unknown Message")
        return message_id

    # ------------------------------------------------------------ channels

    async def _get_channel(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        if self.world.is_thread(channel):
            return 200, self.world.thread_payload(channel["id"], for_user=self._bot(ctx).id)
        return 200, copy.deepcopy(channel)

    async def _patch_channel(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        body = ctx.body or {}
        perms = self._perms(ctx, channel)
        if not self.world.is_thread(channel):
            if not perms & Permissions.MANAGE_CHANNELS:
                raise missing_permissions()
            return 200, self.world.update_channel(channel["id"], body)
        manager = bool(perms & Permissions.MANAGE_THREADS)
        owner = channel["owner_id"] == self._bot(ctx).id
        meta = channel["thread_metadata"]
        if "locked" in body and body["locked"] != meta["locked"] and not manager:
            raise missing_permissions()
        if meta["archived"] and body.get("archived") is not False:
            raise thread_archived()
        if meta["archived"] and meta["locked"] and not manager:
            raise thread_archived()
        if body.get("archived") is True and not (manager or owner):
            raise missing_permissions()
        renaming = any(k in body for k in ("name", "rate_limit_per_user", "auto_archive_duration"))
        if renaming and not (manager or owner):
            raise missing_permissions()
        if "name" in body and not 1 <= len(str(body["name"])) <= 100:
            raise form_error(["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        return 200, self.world.update_thread(channel["id"], body)

    async def _delete_channel(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        need = Permissions.MANAGE_THREADS if self.world.is_thread(channel) else Permissions.MANAGE_CHANNELS
        if not self._perms(ctx, channel) & need:
            raise missing_permissions()
        return 200, copy.deepcopy(self.world.delete_channel(channel["id"]))

    async def _get_messages(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        if not self._perms(ctx, channel) & Permissions.READ_MESSAGE_HISTORY:
            return 200, []
        try:
            limit = int(ctx.query.get("limit", 50))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise form_error(["limit"], "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
        return 200, self.world.list_messages(
            channel["id"],
            before=ctx.query.get("before"),
            after=ctx.query.get("after"),
            around=ctx.query.get("around"),
            limit=limit,
        )

    async def _get_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        if not self._perms(ctx, channel) & Permissions.READ_MESSAGE_HISTORY:
            raise missing_access()
        msg = self.world.message(channel["id"], ctx.params["message_id"])
        if msg["flags"] & MessageFlags.EPHEMERAL:
            raise DiscordAPIError(404, 10008, "Unknown Message")
        return 200, self.world.render_message(msg)

    async def _post_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        bot = self._bot(ctx)
        body = ctx.body or {}
        self.world.check_can_post(channel["id"], bot.id)
        perms = self._perms(ctx, channel)
        if body.get("message_reference") and not perms & Permissions.READ_MESSAGE_HISTORY:
            raise DiscordAPIError(400, 160002, "Cannot reply without permission to read message history")
        if ctx.files and not perms & Permissions.ATTACH_FILES:
            raise missing_permissions()
        flags = int(body.get("flags") or 0) & (4 | MessageFlags.SUPPRESS_NOTIFICATIONS)
        return 200, self.world.create_message(
            channel["id"],
            copy.deepcopy(bot.user),
            content=body.get("content"),
            embeds=body.get("embeds"),
            allowed_mentions=body.get("allowed_mentions"),
            message_reference=body.get("message_reference"),
            nonce=body.get("nonce"),
            enforce_nonce=bool(body.get("enforce_nonce")),
            tts=bool(body.get("tts")),
            flags=flags,
            attachments=self._attachments(channel["id"], ctx),
            author_perms=perms,
        )

    async def _patch_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        msg = self.world.message(channel["id"], ctx.params["message_id"])
        perms = self._perms(ctx, channel)
        if msg["author"]["id"] != self._bot(ctx).id or "webhook_id" in msg:
            if set(ctx.body or {}) - {"flags"} or not perms & Permissions.MANAGE_MESSAGES:
                raise DiscordAPIError(403, 50005, "Cannot edit a message authored by another user")
        return 200, self.world.edit_message(channel["id"], msg["id"], ctx.body or {}, editor_perms=perms)

    async def _delete_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        msg = self.world.message(channel["id"], ctx.params["message_id"])
        own = msg["author"]["id"] == self._bot(ctx).id and "webhook_id" not in msg
        if not own and not self._perms(ctx, channel) & Permissions.MANAGE_MESSAGES:
            raise missing_permissions()
        self.world.delete_message(channel["id"], msg["id"])
        return 204, None

    async def _typing(self, ctx: _Ctx) -> tuple[int, Any]:
        self._visible_channel(ctx)
        return 204, None

    # ------------------------------------------------------------- threads

    def _forum_post(self, forum: JSON, author: JSON, name: str, message: JSON, body: JSON | None) -> JSON:
        world = self.world
        perms = world.permissions_for(forum["guild_id"], author["id"], forum["id"])
        if not perms & Permissions.SEND_MESSAGES:
            raise missing_permissions()
        world.validate_message_body(message.get("content"), message.get("embeds"))
        if not message.get("content") and not message.get("embeds"):
            raise DiscordAPIError(400, 50006, "Cannot send an empty message")
        tags = [str(t) for t in (body or {}).get("applied_tags") or []]
        known = {t["id"] for t in forum["available_tags"]}
        if any(t not in known for t in tags):
            raise form_error(["applied_tags"], "INVALID_TAG", "Unknown tag")
        if forum["flags"] & (1 << 4) and not tags:
            raise DiscordAPIError(400, 40067, "A tag is required to create a forum post in this channel")
        thread = world.create_thread(
            forum["id"],
            author["id"],
            name,
            auto_archive_duration=(body or {}).get("auto_archive_duration"),
            applied_tags=tags,
            rate_limit_per_user=(body or {}).get("rate_limit_per_user"),
        )
        starter = world.create_message(
            thread["id"],
            author,
            content=message.get("content"),
            embeds=message.get("embeds"),
            allowed_mentions=message.get("allowed_mentions"),
            message_id=thread["id"],
            author_perms=perms,
        )
        forum["last_message_id"] = thread["id"]
        payload = world.thread_payload(thread["id"], for_user=author["id"])
        payload["message"] = starter
        return payload

    def _bare_thread(self, channel: JSON, author: JSON, name: str, kind: int, body: JSON | None) -> JSON:
        world = self.world
        perms = world.permissions_for(channel["guild_id"], author["id"], channel["id"])
        need = (
            Permissions.CREATE_PRIVATE_THREADS
            if kind == ChannelType.PRIVATE_THREAD
            else Permissions.CREATE_PUBLIC_THREADS
        )
        if not perms & need:
            raise missing_permissions()
        thread = world.create_thread(
            channel["id"],
            author["id"],
            name,
            thread_type=kind,
            auto_archive_duration=(body or {}).get("auto_archive_duration"),
            rate_limit_per_user=(body or {}).get("rate_limit_per_user"),
        )
        if kind == ChannelType.PUBLIC_THREAD:
            # Discord announces threads started without a message in the parent channel.
            world.create_message(
                channel["id"],
                author,
                content=name,
                message_type=MessageType.THREAD_CREATED,
                author_perms=0,
                system_reference={
                    "type": 0,
                    "channel_id": thread["id"],
                    "guild_id": channel["guild_id"],
                },
            )
        return world.thread_payload(thread["id"], for_user=author["id"])

    def _thread_from_message(
        self, channel: JSON, author: JSON, message_id: str, name: str, body: JSON | None
    ) -> JSON:
        world = self.world
        msg = world.message(channel["id"], message_id)
        if world.is_thread(channel) or channel["type"] == ChannelType.GUILD_FORUM:
            raise DiscordAPIError(400, 50024, "Cannot execute action on this channel type")
        perms = world.permissions_for(channel["guild_id"], author["id"], channel["id"])
        if not perms & Permissions.CREATE_PUBLIC_THREADS:
            raise missing_permissions()
        if message_id in world.channels:
            raise DiscordAPIError(400, 160004, "A thread has already been created for this message")
        thread = world.create_thread(
            channel["id"],
            author["id"],
            name,
            thread_id=message_id,
            auto_archive_duration=(body or {}).get("auto_archive_duration"),
            rate_limit_per_user=(body or {}).get("rate_limit_per_user"),
        )
        msg["flags"] |= 1 << 5  # HAS_THREAD
        world._emit_message("MESSAGE_UPDATE", msg)
        return world.thread_payload(thread["id"], for_user=author["id"])

    async def _post_thread(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        bot = self._bot(ctx)
        body = ctx.body or {}
        name = str(body.get("name") or "")
        if channel["type"] == ChannelType.GUILD_FORUM:
            message = body.get("message")
            if not isinstance(message, dict):
                raise form_error(["message"], "BASE_TYPE_REQUIRED", "This field is required")
            return 201, self._forum_post(channel, copy.deepcopy(bot.user), name, message, body)
        if channel["type"] not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            raise DiscordAPIError(400, 50024, "Cannot execute action on this channel type")
        kind = int(body.get("type") or ChannelType.PRIVATE_THREAD)
        return 201, self._bare_thread(channel, copy.deepcopy(bot.user), name, kind, body)

    async def _post_message_thread(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        body = ctx.body or {}
        return 201, self._thread_from_message(
            channel,
            copy.deepcopy(self._bot(ctx).user),
            ctx.params["message_id"],
            str(body.get("name") or ""),
            body,
        )

    async def _join_thread(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        if not self.world.is_thread(channel):
            raise DiscordAPIError(400, 50024, "Cannot execute action on this channel type")
        self.world.thread_members.setdefault(channel["id"], set()).add(self._bot(ctx).id)
        return 204, None

    async def _leave_thread(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        self.world.thread_members.get(channel["id"], set()).discard(self._bot(ctx).id)
        return 204, None

    async def _archived_threads(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        threads = [
            t
            for t in self.world.threads_of(channel["id"])
            if t["thread_metadata"]["archived"] and t["type"] == ChannelType.PUBLIC_THREAD
        ]
        return 200, {"threads": threads, "members": [], "has_more": False}

    async def _active_threads(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        bot = self._bot(ctx)
        threads = [
            self.world.thread_payload(cid)
            for cid in self.world.guild(guild_id).channel_ids
            if self.world.is_thread(self.world.channels[cid])
            and not self.world.channels[cid]["thread_metadata"]["archived"]
            and self.world.can_view(bot.id, cid)
        ]
        return 200, {"threads": threads, "members": []}

    # -------------------------------------------------------------- guilds

    async def _get_guild(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        with_counts = _truthy(ctx.query.get("with_counts"))
        return 200, self.world.guild_payload(guild_id, with_counts=with_counts)

    async def _get_guild_channels(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        return 200, [
            copy.deepcopy(self.world.channels[cid])
            for cid in self.world.guild(guild_id).channel_ids
            if not self.world.is_thread(self.world.channels[cid])
        ]

    async def _get_members(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        if not self._bot(ctx).privileged_intents & Intents.GUILD_MEMBERS:
            raise missing_access()
        limit = int(ctx.query.get("limit", 1))
        after = int(ctx.query.get("after", 0))
        members = sorted(self.world.guild(guild_id).members.values(), key=lambda m: int(m["user"]["id"]))
        return 200, copy.deepcopy([m for m in members if int(m["user"]["id"]) > after][:limit])

    async def _get_member(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        return 200, copy.deepcopy(self.world.member(guild_id, ctx.params["user_id"]))

    async def _get_roles(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        roles = self.world.guild(guild_id).roles.values()
        return 200, copy.deepcopy(sorted(roles, key=lambda r: r["position"]))

    # ------------------------------------------------------------ webhooks

    async def _get_channel_webhooks(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        if not self._perms(ctx, channel) & Permissions.MANAGE_WEBHOOKS:
            raise missing_permissions()
        return 200, self.webhooks(channel["id"])

    async def _post_webhook(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        if not self._perms(ctx, channel) & Permissions.MANAGE_WEBHOOKS:
            raise missing_permissions()
        name = str((ctx.body or {}).get("name") or "")
        return 200, self.world.create_webhook(channel["id"], self._bot(ctx), name)

    async def _get_guild_webhooks(self, ctx: _Ctx) -> tuple[int, Any]:
        guild_id = self._bot_guild(ctx)
        if not self.world.permissions_for(guild_id, self._bot(ctx).id) & Permissions.MANAGE_WEBHOOKS:
            raise missing_permissions()
        return 200, [
            copy.deepcopy(w) for w in self.world.webhook_records.values() if w["guild_id"] == guild_id
        ]

    def _managed_webhook(self, ctx: _Ctx) -> JSON:
        webhook = self.world.webhook(ctx.params["webhook_id"])
        perms = self.world.permissions_for(webhook["guild_id"], self._bot(ctx).id, webhook["channel_id"])
        if not perms & Permissions.MANAGE_WEBHOOKS:
            raise missing_permissions()
        return webhook

    async def _get_webhook(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._managed_webhook(ctx))

    async def _patch_webhook(self, ctx: _Ctx) -> tuple[int, Any]:
        webhook = self._managed_webhook(ctx)
        return 200, self._apply_webhook_patch(webhook, ctx.body or {}, allow_move=True)

    def _apply_webhook_patch(self, webhook: JSON, body: JSON, *, allow_move: bool) -> JSON:
        if "name" in body and body["name"] is not None:
            validate_webhook_name(str(body["name"]), "name")
            webhook["name"] = str(body["name"])
        if allow_move and body.get("channel_id"):
            target = self.world.channel(str(body["channel_id"]))
            if target["guild_id"] != webhook["guild_id"] or self.world.is_thread(target):
                raise DiscordAPIError(400, 50024, "Cannot execute action on this channel type")
            webhook["channel_id"] = target["id"]
        self._notify()
        return copy.deepcopy(webhook)

    async def _delete_webhook(self, ctx: _Ctx) -> tuple[int, Any]:
        webhook = self._managed_webhook(ctx)
        self.world.delete_webhook(webhook["id"])
        return 204, None

    async def _get_webhook_token(self, ctx: _Ctx) -> tuple[int, Any]:
        webhook = self.world.webhook(ctx.params["webhook_id"], ctx.params["webhook_token"])
        return 200, {k: copy.deepcopy(v) for k, v in webhook.items() if k != "user"}

    async def _patch_webhook_token(self, ctx: _Ctx) -> tuple[int, Any]:
        webhook = self.world.webhook(ctx.params["webhook_id"], ctx.params["webhook_token"])
        result = self._apply_webhook_patch(webhook, ctx.body or {}, allow_move=False)
        result.pop("user", None)
        return 200, result

    async def _delete_webhook_token(self, ctx: _Ctx) -> tuple[int, Any]:
        webhook = self.world.webhook(ctx.params["webhook_id"], ctx.params["webhook_token"])
        self.world.delete_webhook(webhook["id"])
        return 204, None

    async def _execute_webhook(self, ctx: _Ctx) -> tuple[int, Any]:
        body = ctx.body or {}
        record = self._interaction_for_webhook(ctx)
        if record is not None:  # interaction followup: /webhooks/{application_id}/{token}
            flags = int(body.get("flags") or 0) & (
                MessageFlags.EPHEMERAL | 4 | MessageFlags.SUPPRESS_NOTIFICATIONS
            )
            message = self._interaction_message(record, body, flags)
            record.followup_ids.append(message["id"])
            return 200, message
        webhook = self.world.webhook(ctx.params["webhook_id"], ctx.params["webhook_token"])
        message = self.world.execute_webhook(
            webhook,
            body,
            thread_id=ctx.query.get("thread_id"),
            attachments=self._attachments(webhook["channel_id"], ctx),
        )
        if not _truthy(ctx.query.get("wait")):
            return 204, None
        return 200, message

    def _webhook_target(self, ctx: _Ctx) -> tuple[str, str]:
        """(channel id, message id) for a token-scoped webhook message route."""
        record = self._interaction_for_webhook(ctx)
        if record is not None:
            return record.channel_id, self._interaction_message_id(record, ctx.params["message_id"])
        webhook = self.world.webhook(ctx.params["webhook_id"], ctx.params["webhook_token"])
        if ctx.params["message_id"] == "@original":
            raise DiscordAPIError(404, 10008, "Unknown Message")
        msg = self.world.webhook_message(webhook, ctx.params["message_id"], ctx.query.get("thread_id"))
        return msg["channel_id"], msg["id"]

    async def _get_webhook_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel_id, message_id = self._webhook_target(ctx)
        return 200, self.world.render_message(self.world.message(channel_id, message_id))

    async def _patch_webhook_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel_id, message_id = self._webhook_target(ctx)
        channel = self.world.channel(channel_id)
        if self.world.is_thread(channel) and channel["thread_metadata"]["archived"]:
            if channel["thread_metadata"]["locked"]:
                raise thread_archived()
            self.world.update_thread(channel_id, {"archived": False})
        return 200, self.world.edit_message(channel_id, message_id, ctx.body or {})

    async def _delete_webhook_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel_id, message_id = self._webhook_target(ctx)
        self.world.delete_message(channel_id, message_id)
        return 204, None


def _uid(value: JSON | str | int) -> str:
    """Accept a user/message dict or an id."""
    if isinstance(value, dict):
        return str(value["id"])
    return str(value)
