"""The Discord adapter: discord.py's gateway client and REST at the edge of the core.

Intake: messages in a topic's thread become posts (a Discord reply sets the parent),
edits and deletions are carried, and the bot's own messages and its webhooks' echoes
are never taken as posts. discord.py runs each event in its own task; each handler
hands its event to the core before its first await, and the core takes them in
that order.

Delivery: a topic is a forum post in a forum channel, or a bot message with a thread
in a text channel. Mirrored posts go through one channel webhook per channel (found
again after a restart), named after their author, so they read like people; without
Manage Webhooks the bot posts them itself with the name in bold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.gateway import DiscordWebSocket

from bridgebot.adapters.discord import markdown, media, render
from bridgebot.adapters.discord.commands import CommandTranslator, SlashCommands
from bridgebot.adapters.discord.common import NO_MENTIONS, PLATFORM, classify, member_name
from bridgebot.adapters.discord.endpoint import DEFAULT_API_BASE, use_api_base, use_gateway_from_api
from bridgebot.adapters.discord.settings import DiscordSettings
from bridgebot.core import errors
from bridgebot.core.attachments import FileLimits, lines_for, split_fitting
from bridgebot.core.commandkit import UNKNOWN
from bridgebot.core.commands import COMMANDS, lock_notice
from bridgebot.core.models import (
    Action,
    Attachment,
    Author,
    ChannelRef,
    Delivery,
    DeliveryResult,
    IncomingMessage,
    Post,
)
from bridgebot.core.ratelimit import PlatformLimits, RateBudget, Window
from bridgebot.core.richtext.spans import Span
from bridgebot.core.service import Discussions, Later
from bridgebot.i18n import N_, Translator, translator
from bridgebot.store.leader import RETRY_SECONDS, AlwaysLeader, Leadership

log = logging.getLogger(__name__)

WEBHOOK_NAME = "bridgebot"
THREAD_ARCHIVED = 50083  # Discord's code for an edit or deletion in an archived thread
POST_TYPES = (discord.MessageType.default, discord.MessageType.reply)
# How long stopping intake waits for the messages being taken to be recorded.
INTAKE_STOP_WAIT = 5.0


NO_PIN_NOTICE = N_("For facilitators: I could not pin this topic here. To have each new topic "
                   "pinned, give me the Manage Messages permission (or pin it yourself).")
SLASH_HINT = N_("On Discord, commands are slash commands: type /{name} and choose it from the "
                "list Discord shows. This message was not posted to the discussion.")
COMMAND_LIKE = re.compile(r"/[A-Za-z][A-Za-z0-9_]*(?:\s|$)")


def looks_like_command(text: str) -> bool:
    """``/status`` or ``/lock Thanks`` typed as a plain message (a path such as ``/usr/bin``
    or ``/ 2`` is not)."""
    return COMMAND_LIKE.match(text) is not None


def message_text(message: discord.Message) -> str:
    """Content, and a sticker's name (a Lottie sticker is no image), so nothing silently
    vanishes; attachments and still stickers' images travel as files (:mod:`.media`)."""
    return rich_message(message)[0]


def rich_message(message: discord.Message,
                 crossed: Collection[int] = ()) -> tuple[str, tuple[Span, ...]]:
    """:func:`message_text` as plain text and spans: markdown read, mentions as shown names;
    a sticker whose image crosses as a photo (its id in ``crossed``) has no name line."""
    text, spans = markdown.parse(message.content or "", mention_names(
        [(str(u.id), member_name(u)) for u in message.mentions],
        [(str(r.id), r.name) for r in message.role_mentions],
        [(str(c.id), getattr(c, "name", "") or "") for c in message.channel_mentions],
    )) if message.content else ("", ())
    parts = [text] if text else []
    parts += [f"[sticker {sticker.name}]" for sticker in message.stickers
              if sticker.id not in crossed]
    return "\n".join(parts), spans


def mention_names(users: Sequence[tuple[str, str]], roles: Sequence[tuple[str, str]] = (),
                  channels: Sequence[tuple[str, str]] = ()) -> markdown.Resolver:
    """What ``<@id>``, ``<@&id>`` and ``<#id>`` show: the member's shown name (as
    :func:`member_name`, never their username or id), the role's or channel's name."""
    people, role_names, channel_names = dict(users), dict(roles), dict(channels)

    def names(kind: str, ident: str) -> tuple[str, str | None]:
        if kind in ("@", "@!"):
            return f"@{people.get(ident) or 'someone'}", f"{PLATFORM}:{ident}"
        if kind == "@&":
            return f"@{role_names.get(ident) or 'role'}", None
        return f"#{channel_names.get(ident) or 'channel'}", None

    return names


def raw_mentions(data: Any) -> markdown.Resolver:
    """:func:`mention_names` from a raw message payload (an edit event)."""
    users = []
    for user in data.get("mentions") or []:
        member = user.get("member") or {}
        name = member.get("nick") or user.get("global_name") or "Discord user"
        users.append((str(user.get("id")), name))
    return mention_names(users)


def refused_username(err: discord.HTTPException) -> bool:
    """Discord's "Invalid Form Body" about a webhook's username (400, 50035): its rules on
    names are wider than it documents, so any such refusal is retried under a safe name."""
    return err.status == 400 and err.code == 50035 and "In username" in (err.text or "")


class _Client(discord.Client):
    """discord.py's client with the hooks bridgebot needs (gateway from the API base)."""

    def __init__(self, adapter: DiscordAdapter, **kwargs: object) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, **kwargs)  # type: ignore[arg-type]
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        if self.adapter.settings.api_base_url.rstrip("/") != DEFAULT_API_BASE:
            url = await use_gateway_from_api(self)
            log.info("discord gateway from the configured API: %s", url)
        await self.tree.set_translator(CommandTranslator())
        self.adapter.add_commands(self.tree)


class _ShardedClient(_Client, discord.AutoShardedClient):
    """The client when the bot's guilds are split into several gateway shards: one REST
    client and cache, one websocket per shard this worker holds (added with
    ``launch_shard`` and dropped with the shard's ``disconnect`` as roles change)."""


GATEWAY_ROLE = "discord-gateway"
# How long after its start a worker leaves other workers' shards (not in its shard_ids) to
# them: workers started together each connect their own first.
STANDBY_SECONDS = 10.0


def shard_role(shard: int) -> str:
    """The leader role of one gateway shard among several (``discord-shard-N``)."""
    return f"discord-shard-{shard}"


def channel_title(channel: object) -> str | None:
    """``#name in Server`` for a server channel (a thread: its parent's), None for a DM."""
    if isinstance(channel, discord.Thread):
        channel = channel.parent
    name, guild = getattr(channel, "name", None), getattr(channel, "guild", None)
    if not name or guild is None:
        return None
    return f"#{name} in {guild.name}"


# A channel fetched by REST is used again for this long (its name and state may be that
# old; what depends on them asks Discord afresh), at most this many kept.
FETCHED_SECONDS = 60.0
FETCHED_MAX = 1024

# Messages per history request (discord.py reads a thread's history 100 at a time).
HISTORY_PAGE = 100


class DiscordAdapter(SlashCommands):
    """Discord through discord.py; the relay keeps sends inside ``limits``."""

    platform = PLATFORM
    # Discord's buckets (docs/rate-limits.md has each number's source): 5 requests per 2 s
    # per webhook (one webhook per bridged channel carries every thread's mirrors), about
    # 30 messages a minute per channel, where each thread is a channel of its own, and 50
    # requests a second for the bot. discord.py also honours every answer's X-RateLimit-*
    # headers (it waits when Remaining reaches 0) and a 429's retry_after.
    limits = PlatformLimits(
        per_target=(Window(5, 2.0),),
        per_thread=(Window(30, 60.0),),
        per_platform=(Window(50, 1.0),),
        max_length=render.LIMIT,
        settle=1.0,
        settle_max=3.0,
    )

    def __init__(self, settings: DiscordSettings, *, client_options: dict | None = None,
                 limits: PlatformLimits | None = None) -> None:
        self.settings = settings
        if limits is not None:
            self.limits = limits
        # Answers to one person go through a send budget too; the runtime replaces this one
        # with the process's, shared with the relay.
        self.budget = RateBudget({PLATFORM: self.limits})
        # discord.py waits guild_ready_timeout (2 s by default) after the last guild arrives
        # before it calls on_ready; a bridge bot serves a few known guilds, so a short wait
        # gets it ready faster (each guild that arrives restarts the wait).
        # max_messages=None: no message cache. discord.py keeps the last 1,000 messages it
        # saw by default; bridgebot needs none of them (its own message map says what a
        # message is, and edits and deletions come as raw events), so nothing grows with
        # traffic and no one's messages sit in memory.
        self.client_options = {"guild_ready_timeout": 0.25, "max_messages": None,
                               **(client_options or {})}
        self._catching_up: asyncio.Task[None] | None = None
        self._taking = True  # False once intake stopped for shutdown
        self._stopping = False  # stop() closes the client under a gateway still connecting
        self.core: Discussions | None = None
        self.client: _Client | None = None
        self._runner: asyncio.Task[None] | None = None
        # Gateway shards: one role per shard, held by one worker at a time among those on one
        # PostgreSQL (the runtime hands in its leaders; alone, this process holds them all).
        # With one shard the role is "discord-gateway". Sending (REST, webhooks) needs none.
        # This worker's own shards (settings.shard_ids) are taken as soon as they are free;
        # the others only after standby_delay, so that workers started together each take
        # their own first, and whenever one is free after that (its worker died).
        count = settings.shard_count
        self.leader_roles: tuple[str, ...] = (
            (GATEWAY_ROLE,) if count == 1 else tuple(shard_role(n) for n in range(count)))
        self._role_shard = dict(zip(self.leader_roles, range(count), strict=True))
        self._own_roles = {r for r, n in self._role_shard.items() if n in settings.shards()}
        self.leaders: dict[str, Leadership] = {r: AlwaysLeader(r) for r in self.leader_roles}
        self.gateway_retry = RETRY_SECONDS  # how often free shards are tried, held ones checked
        self.standby_delay = STANDBY_SECONDS
        self._standby_from = 0.0  # (loop time) when other workers' shards may be taken
        self._held: set[str] = set()  # roles whose shards the client connects now
        self._shards_ready: set[int] = set()  # of those, the shards that are ready
        self._gateway_keeper: asyncio.Task[None] | None = None
        self._started = False  # start() is done: a shard ready later reads what it missed
        self._gateway_failures = 0  # gateway connections in a row that ended on their own
        self._ready = asyncio.Event()
        self._webhooks: dict[int, discord.Webhook | None] = {}
        # Channels fetched by REST (not in the gateway's cache), with when (see _channel).
        self._fetched: dict[int, tuple[float, discord.abc.GuildChannel | discord.Thread]] = {}
        self._own_webhook_ids: set[int] = set()
        self._warned_no_webhooks = False
        self._told_no_pin: set[str] = set()  # channels told the bot may not pin there
        self._intake_locks: dict[str, asyncio.Lock] = {}  # per bridged channel: posts in order
        self._gathering: dict[str, int] = {}  # per channel: messages being taken now
        self._gathered: dict[str, contextlib.ExitStack] = {}
        self._files_session: aiohttp.ClientSession | None = None  # streams attachments to disk

    # -- lifecycle ---------------------------------------------------------------

    async def start(self, core: Discussions) -> None:
        """Log in (REST and webhooks work from here on, on every worker), connect the gateway
        shards this worker can lead now and wait until they are ready, register the slash
        commands, then keep trying the shards other workers hold (:meth:`_keep_gateway`)."""
        self.core = core
        core.platforms.use_file_limits(PLATFORM, self._file_limits)
        self._taking = True
        self._stopping = False
        self._started = False
        self._held, self._shards_ready = set(), set()
        self._fetched.clear()
        self._ready.clear()
        use_api_base(self.settings.api_base_url)
        self.client = self._new_client()
        try:
            await self.client.login(self.settings.token.get_secret_value())
        except discord.LoginFailure:
            await self.client.close()
            raise errors.PermanentError(
                "Discord refused the bot token (discord.token): check it in the developer portal"
            ) from None
        self._standby_from = asyncio.get_running_loop().time() + self.standby_delay
        held = {role for role in self.leader_roles
                if role in self._own_roles and await self.leaders[role].take()}
        if held:
            self._connect_shards(held)
            assert self._runner is not None
            ready = asyncio.create_task(self._ready.wait())
            done, _ = await asyncio.wait({ready, self._runner}, timeout=60,
                                         return_when=asyncio.FIRST_COMPLETED)
            if ready not in done:
                ready.cancel()
                await self.stop()
                raise errors.TransientError("Discord gateway did not become ready within 60 s")
        await self._sync_commands()
        await self._find_own_webhooks()
        if held:
            # Read what was missed in the background: the relay starts at once, and a long
            # list of threads to read (each a REST call, rate-limited) does not hold it up.
            self._catching_up = asyncio.create_task(self.catch_up(), name="discord-catch-up")
        self._started = True
        self._gateway_keeper = asyncio.create_task(self._keep_gateway(), name="discord-shards")
        user = self.client.user
        bridged = ", ".join(c.chat_id for c in core.channels(PLATFORM)) or "none"
        gateway = ", ".join(sorted(held)) if held else "none yet (other workers hold it)"
        log.info("discord connected as %s; bridging channels %s; gateway: %s", user, bridged,
                 gateway)

    def _new_client(self) -> _Client:
        """A client (not logged in) with bridgebot's events; sharded when shard_count > 1."""
        client: _Client
        if self.settings.shard_count == 1:
            client = _Client(self, **self.client_options)
        else:
            client = _ShardedClient(self, shard_count=self.settings.shard_count, shard_ids=[],
                                    **self.client_options)
        self._wire_events(client)
        return client

    def _connect_shards(self, roles: set[str]) -> None:
        """Open the gateway connections of ``roles``' shards (the client's first connection;
        :meth:`_change_shards` changes the set of a connected client)."""
        assert self.client is not None
        self._held = set(roles)
        self._ready.clear()
        if isinstance(self.client, discord.AutoShardedClient):
            self.client.shard_ids = sorted(self._role_shard[r] for r in roles)
        self._runner = asyncio.create_task(self._connect(self.client), name="discord-gateway")

    async def _connect(self, client: discord.Client | None = None) -> None:
        client = client if client is not None else self.client
        assert client is not None
        try:
            await client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:
            log.error("Discord refused the message content intent: enable it for the bot in the "
                      "developer portal (Bot → Privileged Gateway Intents)")
        except Exception:
            if self._stopping:  # stop() closed the client while it connected: as asked
                log.debug("the Discord gateway connection was closed while connecting")
                return
            log.exception("the Discord gateway connection ended")

    async def _keep_gateway(self) -> None:
        """Every ``gateway_retry`` seconds: take the shards no worker holds (a dead worker's)
        and connect them, and drop the shards whose role this worker lost."""
        while not self._stopping:
            await asyncio.sleep(self.gateway_retry)
            try:
                await self._rebalance()
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("discord gateway shards: %s: %s; trying again", type(err).__name__, err)

    async def _rebalance(self) -> None:
        held: set[str] = set()
        for role in self.leader_roles:
            leader = self.leaders[role]
            if role in self._held:
                if await leader.leads():
                    held.add(role)
                else:
                    log.warning("this worker lost the %s role; closing that gateway shard", role)
            elif (role in self._own_roles
                  or asyncio.get_running_loop().time() >= self._standby_from) \
                    and await leader.take():
                held.add(role)
        if self._held and self._runner is not None and self._runner.done():
            # The gateway connection ended on its own (a refusal discord.py does not retry):
            # give the roles up for another worker, and try again later, ever more slowly.
            self._gateway_failures += 1
            for role in held:
                await self.leaders[role].release()
            delay = min(self.gateway_retry * 2 ** self._gateway_failures, 60.0)
            log.warning("the Discord gateway connection ended; trying again in %.0f s", delay)
            await self._close_gateway()
            await asyncio.sleep(delay)
            return
        if held != self._held and not self._stopping:
            await self._change_shards(held)

    async def _change_shards(self, roles: set[str]) -> None:
        """Connect exactly ``roles``' shards: a client that never connected connects; a
        sharded one adds and drops shard connections; a single shard is connected again."""
        assert self.client is not None
        client = self.client
        if self._runner is None or self._runner.done():
            if roles:
                log.info("discord: connecting the gateway (%s)", ", ".join(sorted(roles)))
                self._connect_shards(roles)
            return
        if not isinstance(client, discord.AutoShardedClient):
            if not roles:  # the single shard's role is lost: close its connection
                await self._close_gateway()
            return
        for role in self._held - roles:
            shard = client.get_shard(self._role_shard[role])
            if shard is not None:
                await shard.disconnect()
            self._shards_ready.discard(self._role_shard[role])
        for role in sorted(roles - self._held):
            number = self._role_shard[role]
            log.info("discord: connecting gateway shard %d (%s)", number, role)
            known = client.get_shard(number)
            if known is not None:
                await known.connect()
            else:
                # discord.py retries a failed shard every 5 s without end: bounded here, so
                # that the roles are looked at again (the next round tries it again).
                await asyncio.wait_for(client.launch_shard(
                    DiscordWebSocket.DEFAULT_GATEWAY, number, initial=True), 60)
        client.shard_ids = sorted(self._role_shard[r] for r in roles)
        self._held = set(roles)

    async def _close_gateway(self) -> None:
        """Close the gateway connections and keep the client (REST, webhooks) open."""
        client, runner = self.client, self._runner
        self._runner = None
        self._held, self._shards_ready = set(), set()
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        if isinstance(client, discord.AutoShardedClient):
            for shard in client.shards.values():
                with contextlib.suppress(Exception):
                    await shard.disconnect()
        elif client is not None and client.ws is not None:
            with contextlib.suppress(Exception):
                await client.ws.close(code=1000)

    async def stop_intake(self) -> None:
        """Take no more messages, edits, deletions or commands: the gateway closes, while the
        client stays open for the relay's last deliveries (another worker takes the gateway
        over once the runtime releases the roles). What people write meanwhile is not
        recorded by this worker, so the next start's catch-up reads it from the thread's
        history.

        That includes the messages of a burst still waiting their turn in a channel (taken
        one at a time, in order); the ones being taken are finished before this returns,
        so that none is handed to a database closed after it."""
        self._taking = False

        async def turns() -> None:
            for lock in list(self._intake_locks.values()):
                async with lock:  # the waiters before us see intake stopped and give way
                    pass
            assert self.core is not None
            await self.core.store.posts_written()  # the posts taken, committed

        try:  # bounded: a message held while the database is down does not hold the stop
            await asyncio.wait_for(turns(), INTAKE_STOP_WAIT)
        except TimeoutError:
            log.warning("stopping with a Discord message still being taken after %.0f s",
                        INTAKE_STOP_WAIT)
        for task in (self._gateway_keeper, self._catching_up):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._gateway_keeper = self._catching_up = None
        await self._close_gateway()

    async def stop(self) -> None:
        self._stopping = True
        await self.stop_intake()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
        if self._files_session is not None:
            await self._files_session.close()
            self._files_session = None

    def health_problem(self) -> str | None:
        """Why this adapter is not up (for ``/healthz``), or None: the client is open, and
        the gateway shards this worker holds are ready and connected (discord.py reconnects
        a dropped one). A worker that holds no shard (other workers do) only sends."""
        client = self.client
        if client is None or client.is_closed():
            return "discord: not connected (the client is closed)"
        if not self._held:
            return None
        if isinstance(client, discord.AutoShardedClient):
            closed = sorted(n for n, info in client.shards.items()
                            if n in {self._role_shard[r] for r in self._held} and info.is_closed())
            missing = sorted({self._role_shard[r] for r in self._held} - self._shards_ready)
            if missing or closed:
                return (f"discord: not connected (gateway shard "
                        f"{', '.join(map(str, missing or closed))} not ready)")
            return None
        if not client.is_ready():
            return "discord: not connected (the gateway is not ready)"
        ws = client.ws
        if ws is None or not ws.open:
            return "discord: not connected (the gateway connection dropped; reconnecting)"
        return None

    async def _sync_commands(self) -> None:
        assert self.client is not None
        tree = self.client.tree
        try:
            if self.settings.guilds:
                for guild_id in self.settings.guilds:
                    guild = discord.Object(guild_id)
                    tree.copy_global_to(guild=guild)
                    await tree.sync(guild=guild)
            else:
                await tree.sync()
        except discord.HTTPException as err:
            log.warning("could not register Discord slash commands: %s", err)

    async def _find_own_webhooks(self) -> None:
        """Know our webhooks before any echo arrives, and reuse them after a restart."""
        assert self.core is not None
        for ref in self.core.channels(PLATFORM):
            try:
                await self._webhook(int(ref.chat_id))
            except errors.DeliveryError as err:
                log.warning("discord channel %s: %s", ref.chat_id, err)

    async def catch_up(self) -> None:
        """Take the messages written in open topics' threads while we were away.

        Reads each thread's history after the newest message the bridge knows there,
        oldest first, through the same path as live messages; the message map's
        UNIQUE key makes anything seen twice count once.
        """
        assert self.core is not None and self.client is not None
        sharded = isinstance(self.client, discord.AutoShardedClient)
        for place, last in await self.core.open_threads(PLATFORM):
            cached = self.client.get_channel(int(place.thread_id or place.chat_id))
            if sharded and not self._on_my_shards(int(place.chat_id)):
                continue  # another worker's shard: it reads its own threads
            newest = getattr(cached, "last_message_id", None)
            if last and newest and newest <= int(last):
                continue  # the gateway says nothing newer was written there: no need to ask
            try:
                await self.budget.acquire_read(PLATFORM, 2)  # the thread, its first page
                thread = await self._channel(int(place.thread_id or place.chat_id))
                after = discord.Object(int(last)) if last else None
                count = 0
                async for message in thread.history(limit=None, after=after,  # type: ignore[union-attr]
                                                    oldest_first=True):
                    await self._on_message(message)
                    count += 1
                    if count % HISTORY_PAGE == 0:  # discord.py asks for the next page now
                        await self.budget.acquire_read(PLATFORM)
                if count:
                    log.info("discord catch-up: %d messages read in thread %s", count, place.thread_id)
            except Exception as err:  # one unreadable thread must not stop the others
                log.warning("discord catch-up in %s failed: %s", place, err)

    def _on_my_shards(self, channel_id: int) -> bool:
        """Whether a channel's guild is on a gateway shard this worker holds now."""
        assert self.client is not None
        channel = self.client.get_channel(channel_id)
        guild = getattr(channel, "guild", None)
        shard = getattr(guild, "shard_id", None)
        return shard is not None and shard in {self._role_shard[r] for r in self._held}

    # -- intake ------------------------------------------------------------------

    def _wire_events(self, client: _Client) -> None:
        @client.event
        async def on_ready() -> None:
            if not isinstance(client, discord.AutoShardedClient):
                self._shard_ready(0)

        @client.event
        async def on_shard_ready(shard_id: int) -> None:
            self._shard_ready(shard_id)

        @client.event
        async def on_message(message: discord.Message) -> None:
            await self._on_message(message)

        @client.event
        async def on_raw_message_edit(payload: discord.RawMessageUpdateEvent) -> None:
            await self._on_edit(payload)

        @client.event
        async def on_raw_message_delete(payload: discord.RawMessageDeleteEvent) -> None:
            await self._on_delete(payload)

    def _shard_ready(self, shard: int) -> None:
        """A shard's session is ready (after IDENTIFY, not RESUME): once start() is done, a
        new session after an outage or a shard taken over from another worker, so read
        what was written meanwhile."""
        self._shards_ready.add(shard)
        if self._started and self._taking:
            asyncio.create_task(self.catch_up())  # noqa: RUF006 - logged inside
        if {self._role_shard[r] for r in self._held} <= self._shards_ready:
            self._gateway_failures = 0
            self._ready.set()

    def _is_ours(self, author_id: int | None, webhook_id: int | None) -> bool:
        assert self.client is not None and self.client.user is not None
        if webhook_id is not None:
            return True  # our mirrors, or another integration: neither is a person's post
        return author_id == self.client.user.id

    def _where(self, channel: object) -> ChannelRef:
        if isinstance(channel, discord.Thread):
            return ChannelRef(PLATFORM, str(channel.parent_id), str(channel.id))
        return ChannelRef(PLATFORM, str(getattr(channel, "id", "")))

    async def _on_message(self, message: discord.Message) -> None:
        assert self.core is not None
        if not self._taking:
            return
        if self._is_ours(message.author.id, message.webhook_id) or message.author.bot:
            return
        if message.type not in POST_TYPES:
            return
        if looks_like_command(message.content):  # "/status" typed as text: never a post
            await self._command_hint(message)
            return
        where = self._where(message.channel)
        # Reading files awaits: messages of a channel wait for the one before them, so
        # posts keep the order people wrote them in (the lock is taken before any await).
        # Only until the post is queued: the store writes posts in queue order, and the
        # channel's next message is taken while this one waits for its commit, so a burst
        # of gateway events in one channel shares commits (gathered while any is arriving).
        lock = self._intake_locks.setdefault(where.chat_id, asyncio.Lock())
        with self._arriving(where.chat_id):
            async with lock:
                if not self._taking:  # intake stopped while it waited its turn: see stop_intake
                    return
                later = await self._take_message(message, where)
        outcome = await later()
        if outcome.answer:
            answer = outcome.answer

            async def send() -> None:
                try:
                    await message.reply(answer, mention_author=False, allowed_mentions=NO_MENTIONS)
                except Exception as err:
                    raise classify(err, f"channel {where}") from err

            await self.budget.send(where, send)

    @contextlib.contextmanager
    def _arriving(self, chat_id: str) -> Iterator[None]:
        """While messages of a channel are being taken, their posts are gathered for one
        commit (``Discussions.together``); the last one taken lets them be written."""
        assert self.core is not None
        if not self._gathering.get(chat_id):
            self._gathered[chat_id] = contextlib.ExitStack()
            self._gathered[chat_id].enter_context(self.core.together())
        self._gathering[chat_id] = self._gathering.get(chat_id, 0) + 1
        try:
            yield
        finally:
            self._gathering[chat_id] -= 1
            if not self._gathering[chat_id]:
                del self._gathering[chat_id]
                self._gathered.pop(chat_id).close()

    def _file_limits(self, target: ChannelRef) -> FileLimits | None:
        """The upload limit of the server ``target`` is in (its boost tier), once known."""
        channel = self.client.get_channel(int(target.chat_id)) \
            if self.client is not None and target.chat_id.isdigit() else None
        return media.limits_for(channel) if channel is not None else None

    async def _take_message(self, message: discord.Message, where: ChannelRef) -> Later:
        """Fetch a message's files and queue its post; what to await for the outcome."""
        assert self.core is not None
        attachments: tuple[Attachment, ...] = ()
        crossed: set[int] = set()
        if (message.attachments or message.stickers) and self.core.is_bridged(where):
            if self._files_session is None or self._files_session.closed:
                self._files_session = aiohttp.ClientSession()
            attachments = tuple([await media.fetch(self.core.files, a, self._files_session)
                                 for a in message.attachments])
            cdn = media.sticker_cdn(self.settings.api_base_url)
            files = self.core.files
            for sticker in message.stickers:
                image = files and await media.fetch_sticker(files, sticker,
                                                            self._files_session, cdn)
                if image is not None:
                    attachments += (image,)
                    crossed.add(sticker.id)
        reference = message.reference
        text, spans = rich_message(message, crossed)
        incoming = IncomingMessage(
            where=self._where(message.channel), message_id=str(message.id),
            author=Author(PLATFORM, str(message.author.id), member_name(message.author)),
            text=text, spans=spans, sent_at=message.created_at,
            reply_to_message_id=str(reference.message_id) if reference and reference.message_id
            else None,
            chat_title=channel_title(message.channel), attachments=attachments,
        )
        # Messages carry no locale on Discord (only interactions do): answers use the chat's.
        return await self.core.accept(incoming)

    async def _command_hint(self, message: discord.Message) -> None:
        """A text message that reads as a command: Discord's commands are slash commands,
        so say how to run it (in the channel's language: messages carry no locale)."""
        assert self.core is not None
        where = self._where(message.channel)
        if not self.core.is_bridged(where):
            return
        name = message.content[1:].split(maxsplit=1)[0].lower()
        t = self.core.translator_for(None, where)
        if COMMANDS.find(name) is None:
            answer = t(UNKNOWN, name=name)
        else:
            answer = t(SLASH_HINT, name=name)

        async def send() -> None:
            try:
                await message.reply(answer, mention_author=False, allowed_mentions=NO_MENTIONS)
            except Exception as err:
                raise classify(err, f"channel {where}") from err

        await self.budget.send(where, send)

    async def _on_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        assert self.core is not None
        if not self._taking:
            return
        data = payload.data
        author = data.get("author") or {}
        if "content" not in data or data.get("webhook_id") or author.get("bot"):
            return
        where = self._where_id(payload.channel_id)
        edited = data.get("edited_timestamp")
        when = datetime.fromisoformat(edited) if edited else datetime.now(UTC)
        place = await where
        core = self.core
        text, spans = markdown.parse(data["content"] or "", raw_mentions(data))
        outcome = await core.held(
            lambda: core.edit_message(place, str(payload.message_id), text, when, spans),
            f"an edit in {place}")
        if outcome.answer:
            await self._tell(place, str(payload.message_id), outcome.answer)

    async def _tell(self, where: ChannelRef, message_id: str, answer: str) -> None:
        """Answer a person in reply to their message, inside the channel's send budget."""
        async def send() -> None:
            try:
                channel = await self._topic_thread(where)
                await channel.send(answer, allowed_mentions=NO_MENTIONS,
                                   reference=discord.MessageReference(
                                       message_id=int(message_id),
                                       channel_id=channel.id,  # type: ignore[attr-defined]
                                       fail_if_not_exists=False))
            except errors.DeliveryError:
                raise
            except Exception as err:
                raise classify(err, f"channel {where}") from err

        await self.budget.send(where, send)

    async def _on_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        assert self.core is not None
        if not self._taking:
            return
        place = await self._where_id(payload.channel_id)
        core = self.core
        await core.held(lambda: core.removed(place, str(payload.message_id)),
                        f"a deletion in {place}")

    async def _where_id(self, channel_id: int) -> ChannelRef:
        assert self.client is not None
        channel = self.client.get_channel(channel_id)
        if channel is None:
            with contextlib.suppress(discord.HTTPException):
                channel = await self.client.fetch_channel(channel_id)
        return self._where(channel) if channel is not None else ChannelRef(PLATFORM, str(channel_id))

    # -- slash commands ----------------------------------------------------------

    # -- delivery ----------------------------------------------------------------

    async def _channel(self, channel_id: int) -> discord.abc.GuildChannel | discord.Thread:
        """A channel or thread from the gateway's cache, else fetched (and kept a minute: a
        worker whose gateway shards other workers hold has no cache, and would otherwise ask
        for the thread before every delivery)."""
        assert self.client is not None
        channel = self.client.get_channel(channel_id)
        if channel is not None:
            return channel  # type: ignore[return-value]
        now = asyncio.get_running_loop().time()
        kept = self._fetched.get(channel_id)
        if kept is not None and now - kept[0] < FETCHED_SECONDS:
            return kept[1]
        try:
            fetched = await self.client.fetch_channel(channel_id)
        except Exception as err:
            raise classify(err, f"channel {channel_id}") from err
        if len(self._fetched) >= FETCHED_MAX:
            self._fetched.clear()
        self._fetched[channel_id] = (now, fetched)  # type: ignore[assignment]
        return fetched  # type: ignore[return-value]

    async def _webhook(self, channel_id: int) -> discord.Webhook | None:
        """The channel's bridgebot webhook, reused if it exists; None without permission."""
        if channel_id in self._webhooks:
            return self._webhooks[channel_id]
        channel = await self._channel(channel_id)
        webhook = None
        try:
            assert self.client is not None and self.client.user is not None
            for existing in await channel.webhooks():  # type: ignore[union-attr]
                if existing.user and existing.user.id == self.client.user.id and existing.token:
                    webhook = existing
                    break
            if webhook is None:
                webhook = await channel.create_webhook(name=WEBHOOK_NAME)  # type: ignore[union-attr]
        except discord.Forbidden:
            if not self._warned_no_webhooks:
                self._warned_no_webhooks = True
                log.warning("no Manage Webhooks permission in discord channel %s: mirrored posts "
                            "will be bot messages with the author's name in bold", channel_id)
        except discord.HTTPException as err:
            raise classify(err, f"channel {channel_id}") from err
        self._webhooks[channel_id] = webhook
        if webhook is not None:
            self._own_webhook_ids.add(webhook.id)
        return webhook

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        where = f"channel {delivery.target}"
        try:
            return await self._deliver(delivery)
        except errors.DeliveryError:
            raise
        except Exception as err:
            delivery_error = classify(err, where)
            log.warning("%s", delivery_error)
            raise delivery_error from err

    def _chat_translator(self, target: ChannelRef) -> Translator:
        """What the bot posts into a channel is for everyone there: the channel's language."""
        return translator(self.core.chat_language(target) if self.core else None)

    async def _deliver(self, delivery: Delivery) -> DeliveryResult:
        target = delivery.target
        if delivery.action is Action.OPEN_TOPIC:
            return await self._open_topic(delivery)
        thread = await self._topic_thread(target)
        if delivery.action is Action.PROMPT and delivery.prompt is not None:
            pieces = render.prompt_pieces(delivery.prompt, self._chat_translator(target))
            ids = await self._send_bot(thread, pieces,
                                       nonce=f"bb{delivery.id}")
            return DeliveryResult(ids)
        if delivery.action is Action.POST and delivery.post is not None:
            return DeliveryResult(await self._mirror_post(delivery, thread))
        if delivery.action is Action.NOTICE and delivery.notice:
            pieces = render.split_escaped(delivery.notice, render.LIMIT)
            return DeliveryResult(await self._send_bot(thread, pieces, reply_to=delivery.reply_to,
                                                       nonce=f"bb{delivery.id}"))
        return DeliveryResult()

    async def _open_topic(self, delivery: Delivery) -> DeliveryResult:
        channel = await self._channel(int(delivery.target.chat_id))
        pieces = render.topic_pieces(delivery.topic, self._chat_translator(delivery.target))
        name = delivery.topic.title[:100]
        if isinstance(channel, discord.ForumChannel):
            created = await channel.create_thread(name=name, content=pieces[0],
                                                  allowed_mentions=NO_MENTIONS)
            ids = [str(created.message.id)]
            ids += await self._send_bot(created.thread, pieces[1:])
            await self._pin(created.message, created.thread, delivery.target)
            return DeliveryResult(tuple(ids), str(created.thread.id))
        if not isinstance(channel, discord.TextChannel):
            raise errors.PermanentError(
                f"Discord channel {delivery.target.chat_id} is neither a text nor a forum channel"
            )
        starter = await channel.send(pieces[0], allowed_mentions=NO_MENTIONS)
        thread = await starter.create_thread(name=name)
        ids = [str(starter.id), *await self._send_bot(thread, pieces[1:])]
        await self._pin(starter, thread, delivery.target)
        return DeliveryResult(tuple(ids), str(thread.id))

    async def _pin(self, message: discord.Message, thread: discord.Thread,
                   target: ChannelRef) -> None:
        """Pin a new topic's first message where the bot may (Manage Messages). Where it may
        not, the thread is told once per channel (while running), politely, how to allow it;
        the topic is delivered either way."""
        try:
            await message.pin()
            return
        except discord.Forbidden:
            log.info("discord channel %s: no permission to pin the topic message", target.chat_id)
        except discord.HTTPException as err:
            log.warning("discord channel %s: pinning failed: %s", target.chat_id, err)
            return
        if target.chat_id in self._told_no_pin:
            return
        self._told_no_pin.add(target.chat_id)
        notice = self._chat_translator(target)(NO_PIN_NOTICE)
        await self._notice(thread, ChannelRef(PLATFORM, target.chat_id, str(thread.id)), notice)

    async def _notice(self, thread: discord.abc.Messageable, place: ChannelRef, text: str,
                    reply_to: str | None = None) -> None:
        """A notice beside the delivery being made (the relay's turn reserved only that
        one): inside the channel's send budget, and a refusal is logged, never raised over
        the delivery's own outcome."""
        await self.budget.acquire(place)
        try:
            await self._send_bot(thread, render.notice(text), reply_to=reply_to)
        except discord.HTTPException as err:
            log.warning("discord channel %s: could not post a notice: %s", place.chat_id, err)

    async def _topic_thread(self, target: ChannelRef) -> discord.abc.Messageable:
        if target.thread_id is None:
            return await self._channel(int(target.chat_id))  # type: ignore[return-value]
        return await self._channel(int(target.thread_id))  # type: ignore[return-value]

    async def _send_bot(self, channel: discord.abc.Messageable, pieces: list[str],
                        reply_to: str | None = None, nonce: str | None = None) -> tuple[str, ...]:
        """Bot messages, each with a nonce derived from the delivery: Discord enforces it, so a
        resend after a crash returns the message already sent instead of a duplicate."""
        ids: list[str] = []
        for part, piece in enumerate(pieces):
            # discord.py's send() treats reference=None and nonce=None as "not given".
            reference: Any = None
            if reply_to and not ids:
                reference = discord.MessageReference(
                    message_id=int(reply_to), channel_id=channel.id,  # type: ignore[attr-defined]
                    fail_if_not_exists=False,
                )
            nonce_part: Any = f"{nonce}.{part}"[:25] if nonce else None
            sent = await channel.send(piece, allowed_mentions=NO_MENTIONS, reference=reference,
                                      nonce=nonce_part)
            ids.append(str(sent.id))
        return tuple(ids)

    def _quote(self, delivery: Delivery, thread: object) -> str | None:
        """Webhooks cannot reply natively: a linked pointer to the parent instead."""
        if delivery.parent is None:
            return None
        link = None
        guild = getattr(thread, "guild", None)
        if delivery.reply_to and delivery.reply_is_parent and guild is not None:
            link = (f"https://discord.com/channels/{guild.id}/{getattr(thread, 'id', '')}/"
                    f"{delivery.reply_to}")
        return render.reply_quote(delivery.parent, link)

    async def _mirror_post(self, delivery: Delivery, thread: discord.abc.Messageable) -> tuple[str, ...]:
        post = delivery.post
        assert post is not None
        paths: list[tuple[Attachment, Path]] = []
        if post.attachments:
            post, paths = self._files_for(post, thread)
        try:
            return await self._send_post(delivery, post, thread, paths)
        except discord.HTTPException as err:
            if err.code != media.TOO_LARGE or not paths:
                raise
            # Larger than this guild takes after all: the files become lines.
            log.info("discord channel %s refused files as too large; sending their names",
                     delivery.target)
            shown = replace(post, text="\n\n".join(
                x for x in (post.text, lines_for([a for a, _ in paths])) if x))
            return await self._send_post(delivery, shown, thread, [])

    def _files_for(self, post: Post, thread: object) -> tuple[Post, list[tuple[Attachment, Path]]]:
        """The files that go as uploads, and the post with a line for each one that cannot."""
        assert self.core is not None
        fit, _ = split_fitting(post.attachments, media.limits_for(thread))
        files = self.core.files
        paths = [(a, p) for a in fit if files is not None and (p := files.path(a)) is not None]
        going = {id(a) for a, _ in paths}
        lines = lines_for([a for a in post.attachments if id(a) not in going])
        return replace(post, text="\n\n".join(x for x in (post.text, lines) if x)), paths

    async def _send_post(self, delivery: Delivery, post: Post, thread: discord.abc.Messageable,
                         paths: Sequence[tuple[Attachment, Path]]) -> tuple[str, ...]:
        """The post's pieces (under the author's name), the files with the first: a file
        message carries what fits and the rest follows, as a long text post's pieces do, so
        an edit can grow or shrink the continuations and never touch the files."""
        webhook = await self._webhook(int(delivery.target.chat_id))
        if webhook is None:
            pieces = render.post_pieces(post, with_author=True)
            ids: list[str] = []
            if paths:
                reference: Any = None
                if delivery.reply_to:
                    reference = discord.MessageReference(
                        message_id=int(delivery.reply_to), channel_id=thread.id,  # type: ignore[attr-defined]
                        fail_if_not_exists=False)
                sent = await thread.send(pieces[0], files=media.uploads(paths),
                                         allowed_mentions=NO_MENTIONS, reference=reference)
                ids.append(str(sent.id))
            ids += await self._send_bot(thread, pieces[1:] if paths else pieces,
                                        reply_to=None if paths else delivery.reply_to,
                                        nonce=f"bb{delivery.id}")
            return tuple(ids)
        quote = self._quote(delivery, thread)
        in_thread = thread if isinstance(thread, discord.Thread) else discord.utils.MISSING
        username = render.webhook_username(post)
        if username is not None:
            try:
                return await self._webhook_pieces(webhook, render.post_pieces(post, quote=quote),
                                                  username, in_thread, paths)
            except discord.HTTPException as err:
                if not refused_username(err):
                    raise
                log.info("Discord refused a webhook username (%s); the post goes under a "
                         "neutral name, its author's name in the text", err.code)
        # A name Discord refuses: a neutral one, and the author's name in the text.
        return await self._webhook_pieces(
            webhook, render.post_pieces(post, quote=quote, with_author=True),
            render.safe_username({post.author_platform}), in_thread, paths)

    async def _webhook_pieces(self, webhook: discord.Webhook, pieces: list[str], username: str,
                              thread: Any, paths: Sequence[tuple[Attachment, Path]] = (),
                              ) -> tuple[str, ...]:
        """The pieces under ``username``, the files with the first one."""
        ids: list[str] = []
        for index, piece in enumerate(pieces):
            extra: dict[str, Any] = {}
            if paths and index == 0:
                extra["files"] = media.uploads(paths)
            sent = await webhook.send(piece, username=username, wait=True, thread=thread,
                                      allowed_mentions=NO_MENTIONS, **extra)
            ids.append(str(sent.id))
        return tuple(ids)

    def combinable(self, deliveries: Sequence[Delivery]) -> int:
        """How many queued posts fit one webhook message (blocks joined by a blank line)."""
        length = count = 0
        for delivery in deliveries:
            assert delivery.post is not None
            length += len(render.post_block(delivery.post, delivery.parent)) + (2 if count else 0)
            if length > render.LIMIT:
                break
            count += 1
        return count

    async def deliver_combined(self, deliveries: Sequence[Delivery]) -> DeliveryResult:
        """Queued posts as one webhook message, each block with its author line, in order."""
        webhook = await self._webhook(int(deliveries[0].target.chat_id))
        blocks = [render.post_block(d.post, d.parent) for d in deliveries if d.post is not None]
        posts = [d.post for d in deliveries if d.post is not None]
        thread = await self._topic_thread(deliveries[0].target)
        try:
            if webhook is None:
                ids = await self._send_bot(thread, ["\n\n".join(blocks)],
                                           nonce=f"bb{deliveries[0].id}c")
                return DeliveryResult(ids)
            in_thread = thread if isinstance(thread, discord.Thread) else discord.utils.MISSING
            try:
                sent = await webhook.send("\n\n".join(blocks), username=render.combined_username(posts),
                                          wait=True, thread=in_thread, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as err:
                if not refused_username(err):
                    raise
                # Each block names its author already: only the name above them changes.
                sent = await webhook.send(
                    "\n\n".join(blocks), wait=True, thread=in_thread, allowed_mentions=NO_MENTIONS,
                    username=render.safe_username({p.author_platform for p in posts}))
        except errors.DeliveryError:
            raise
        except Exception as err:
            raise classify(err, f"channel {deliveries[0].target}") from err
        return DeliveryResult((str(sent.id),))

    async def find_sent(self, delivery: Delivery) -> DeliveryResult | None:
        """After a crash mid-send: our webhook's message for this post, if it got through.

        Webhook messages carry no nonce, so the thread's recent messages are compared
        with what this delivery would have sent. Bot messages need no search: they are
        sent with a nonce and ``enforce_nonce``, and Discord answers a repeat with the
        original message.
        """
        if delivery.action is not Action.POST or delivery.post is None:
            return None
        webhook = await self._webhook(int(delivery.target.chat_id))
        if webhook is None:
            return None
        thread = await self._topic_thread(delivery.target)
        first_piece = render.post_pieces(delivery.post, quote=self._quote(delivery, thread))[0]
        block = render.post_block(delivery.post, delivery.parent)
        try:
            async for message in thread.history(limit=100):
                if message.webhook_id != webhook.id:
                    continue
                if message.content == first_piece:
                    return DeliveryResult((str(message.id),))
                if block in message.content:  # it went out inside a combined message
                    return DeliveryResult(())
        except Exception as err:
            raise classify(err, f"channel {delivery.target}") from err
        return None

    async def edit(self, delivery: Delivery) -> DeliveryResult | None:
        """The post's copies take its new text, formatting and reply quote; a post grown past
        them continues in new messages, one shrunk has the extra ones deleted. The result
        lists the messages that show it now."""
        post = delivery.post
        if post is None or post.is_opening:
            await self._edit_bot_pieces(delivery)
            return None
        webhook = await self._webhook(int(delivery.target.chat_id))
        thread = await self._topic_thread(delivery.target)
        quote = self._quote(delivery, thread) if webhook is not None else None
        username = render.webhook_username(post)
        pieces = render.post_pieces(post, quote=quote,
                                    with_author=webhook is None or username is None)
        ids = list(delivery.message_ids) if delivery.message_ids else []
        # Grown: continued in new messages; shrunk: the extra ones go, except one carrying
        # files (a copy sent before the files rode on the first piece had them on its
        # last), which keeps no words.
        resize = bool(ids)
        in_thread = thread if isinstance(thread, discord.Thread) else discord.utils.MISSING
        edits = list(zip(ids, pieces, strict=False))
        if post.attachments:
            edits += [(message_id, render.CONTINUED) for message_id in ids[len(pieces):]]
        carrying: set[str] = set()  # extra messages that hold files: kept
        for copy in delivery.combined:  # re-rendered whole: the others' posts stay as they are
            text = "\n\n".join(render.post_block(part, parent) for part, parent in copy.parts)
            edits.append((copy.message_ids[0], render.clip_message(text)))

        drop: dict[str, Any] = {} if post.attachments else {"attachments": []}

        async def edit_all() -> None:
            for message_id, piece in edits:
                try:
                    edited: discord.Message
                    if webhook is not None:
                        # A post without files (erased) leaves none on its copies either.
                        edited = await webhook.edit_message(
                            int(message_id), content=piece, thread=in_thread,
                            allowed_mentions=NO_MENTIONS, **drop)
                    else:
                        edited = await thread.get_partial_message(int(message_id)).edit(  # type: ignore[attr-defined]
                            content=piece, allowed_mentions=NO_MENTIONS, **drop)
                    if edited.attachments:
                        carrying.add(message_id)
                except discord.NotFound:  # one piece gone (deleted by a moderator): the others still
                    log.info("discord message to edit is gone in %s", delivery.target)
            if not resize:
                return
            for piece in pieces[len(ids):]:  # grown: continued in new messages
                sent: discord.Message
                if webhook is not None:
                    sent = await webhook.send(piece, username=username or render.safe_username(
                                                  {post.author_platform}),
                                              wait=True, thread=in_thread,
                                              allowed_mentions=NO_MENTIONS)
                else:
                    sent = await thread.send(piece, allowed_mentions=NO_MENTIONS)
                ids.append(str(sent.id))
            for message_id in ids[len(pieces):]:  # shrunk: the extra messages go
                if message_id in carrying:
                    continue
                with contextlib.suppress(discord.NotFound):
                    if webhook is not None:
                        await webhook.delete_message(int(message_id), thread=in_thread)
                    else:
                        await thread.get_partial_message(int(message_id)).delete()  # type: ignore[attr-defined]
            ids[len(pieces):] = [i for i in ids[len(pieces):] if i in carrying]

        await self._unarchived(delivery.target, edit_all)
        return DeliveryResult(tuple(ids)) if resize else None

    async def rewrite(self, delivery: Delivery) -> None:
        """The bot's own messages of a topic here, shown again with the texts as they are now
        (a forgotten person's name replaced): the topic (and the thread's name), its
        questions, lock notices and digests; in an archived thread, unarchived for it."""
        t = self._chat_translator(delivery.target)
        topic = delivery.topic
        thread = await self._topic_thread(delivery.target)
        parent = await self._channel(int(delivery.target.chat_id))
        edits: list[tuple[str, str, bool]] = []  # (message id, text, may be in the parent)
        for shown in delivery.rewrites:
            if shown.kind == "topic":
                pieces = render.topic_pieces(topic, t)
            elif shown.kind == "prompt" and shown.prompt is not None:
                pieces = render.prompt_pieces(shown.prompt, t)
            elif shown.kind in ("lock", "unlock"):
                locked = shown.kind == "lock"
                pieces = render.notice(lock_notice(t, topic.title, locked,
                                                   topic.lock_reason if locked else None))
            elif shown.kind == "notice" and shown.text:
                pieces = render.split_escaped(shown.text, render.LIMIT)
            else:
                continue
            pieces = pieces[: len(shown.message_ids)]
            pieces += [render.CONTINUED] * (len(shown.message_ids) - len(pieces))
            edits += [(m, p, shown.kind == "topic" and i == 0)
                      for i, (m, p) in enumerate(zip(shown.message_ids, pieces, strict=False))]

        async def edit_all() -> None:
            if isinstance(thread, discord.Thread) and thread.name != topic.title[:100]:
                await thread.edit(name=topic.title[:100])
                self._fetched.pop(thread.id, None)  # its name changed: fetch it afresh
            for message_id, text, starter in edits:
                # A text channel's topic starts with a message in the channel itself.
                places = [parent, thread] if starter else [thread]
                for place in places:
                    try:
                        await place.get_partial_message(int(message_id)).edit(  # type: ignore[union-attr]
                            content=text, allowed_mentions=NO_MENTIONS)
                        break
                    except discord.NotFound:
                        continue

        await self._unarchived(delivery.target, edit_all)

    async def _unarchived(self, target: ChannelRef, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` (edits or deletions in the topic's thread). Discord refuses both in an
        archived thread (400, 50083 "Thread is archived": every locked topic's thread, and
        any thread after its auto-archive time), so then the thread is unarchived (and
        unlocked) for the work and archived (and locked) again afterwards, as it was.
        Whatever else fails becomes a classified delivery error."""
        try:
            await self._archived_or_not(target, work)
        except errors.DeliveryError:
            raise
        except Exception as err:
            raise classify(err, f"channel {target}") from err

    async def _archived_or_not(self, target: ChannelRef,
                               work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
            return
        except discord.HTTPException as err:
            if err.code != THREAD_ARCHIVED or target.thread_id is None:
                raise
        assert self.client is not None
        thread = await self.client.fetch_channel(int(target.thread_id))
        if not isinstance(thread, discord.Thread):
            raise errors.PermanentError(f"Discord channel {target}: archived, and not a thread")
        locked = thread.locked
        log.info("discord thread %s is archived: unarchiving it for an edit", target.thread_id)
        thread = await thread.edit(archived=False, locked=False)
        try:
            await work()
        finally:
            await thread.edit(archived=True, locked=locked)

    async def _edit_bot_pieces(self, delivery: Delivery) -> None:
        """A reworded question or a new title or introduction: the bot's own messages that
        show it (and the thread's name). A text channel's topic message is the thread's
        starter, in the channel itself; an archived thread is unarchived for the edit."""
        t = self._chat_translator(delivery.target)
        if delivery.post is None:
            assert delivery.prompt is not None
            pieces = render.prompt_pieces(delivery.prompt, t)
        else:
            pieces = render.topic_pieces(delivery.topic, t)
        ids = delivery.message_ids
        if len(pieces) > len(ids):  # grew: keep the message count, the last one takes the rest
            pieces = [*pieces[: len(ids) - 1], render.CONTINUED]
        pieces += [render.CONTINUED] * (len(ids) - len(pieces))
        opening = delivery.post is not None
        title = delivery.topic.title[:100]

        async def edit_all() -> None:
            thread = await self._topic_thread(delivery.target)
            parent = await self._channel(int(delivery.target.chat_id))
            if opening and isinstance(thread, discord.Thread) and thread.name != title:
                await thread.edit(name=title)
                self._fetched.pop(thread.id, None)  # its name changed: fetch it afresh
            for message_id, piece in zip(ids, pieces, strict=False):
                starter = opening and message_id == ids[0] and isinstance(parent, discord.TextChannel)
                where = parent if starter else thread
                try:
                    await where.get_partial_message(int(message_id)).edit(  # type: ignore[union-attr]
                        content=piece, allowed_mentions=NO_MENTIONS)
                except discord.NotFound:
                    log.info("discord message to edit is gone in %s", delivery.target)

        await self._unarchived(delivery.target, edit_all)

    async def hide(self, delivery: Delivery) -> None:
        """Delete our mirrors (through the webhook that sent them) and, when a facilitator
        hid the post, the author's original, which needs Manage Messages: without it, say
        so in the thread and fail the delivery so facilitators see it in /status."""
        webhook = await self._webhook(int(delivery.target.chat_id))
        thread = await self._topic_thread(delivery.target)
        in_thread = thread if isinstance(thread, discord.Thread) else discord.utils.MISSING
        refused: list[str] = []

        async def delete_all() -> None:
            refused.clear()
            for message_id in delivery.message_ids:
                original = message_id in delivery.original_ids
                try:
                    if webhook is not None and not original:
                        await webhook.delete_message(int(message_id), thread=in_thread)
                    else:
                        await thread.get_partial_message(int(message_id)).delete()  # type: ignore[attr-defined]
                except discord.NotFound:
                    continue
                except discord.Forbidden as err:
                    log.warning("discord refused to delete message %s in %s: %s", message_id,
                                delivery.target, err.text)
                    refused.append(message_id)

        await self._unarchived(delivery.target, delete_all)
        if refused:
            number = f" #{delivery.post.number}" if delivery.post else ""
            t = self._chat_translator(delivery.target)
            notice = t(
                "A facilitator hid this post #{number} from the discussion, but I may not "
                "delete messages here: a moderator can delete it, or give me Manage Messages.",
                number=delivery.post.number if delivery.post else "?")
            await self._notice(thread, delivery.target, notice, reply_to=refused[0])
            raise errors.PermanentError(
                f"Discord channel {delivery.target}: could not delete message {', '.join(refused)} "
                f"of hidden post{number}; the bot needs Manage Messages"
            )

    async def set_locked(self, delivery: Delivery, locked: bool) -> DeliveryResult:
        """Post the notice, then lock and archive the thread; unlocking reverses it."""
        topic = delivery.topic
        t = self._chat_translator(delivery.target)
        try:
            thread = await self._topic_thread(delivery.target)
            if locked:
                ids = await self._send_bot(thread, render.notice(
                    lock_notice(t, topic.title, True, topic.lock_reason)))
                if isinstance(thread, discord.Thread):
                    await thread.edit(locked=True, archived=True)
                    self._fetched.pop(thread.id, None)
                return DeliveryResult(ids)
            if isinstance(thread, discord.Thread):
                await thread.edit(archived=False, locked=False)
                self._fetched.pop(thread.id, None)
            ids = await self._send_bot(thread, render.notice(lock_notice(t, topic.title, False)))
            return DeliveryResult(ids)
        except errors.DeliveryError:
            raise
        except Exception as err:
            raise classify(err, f"channel {delivery.target}") from err
