"""What tests do to the fake Discord: play the people, inject faults, look at the outcome.

Synchronous methods (``add_member``, ``user_sends``, ``invoke_command`` ...) change the world
the way the person's client would and dispatch the gateway events Discord would send;
inspection methods (``channel_messages``, ``threads``, ``calls_to`` ...) read what the bot did.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bridgebot.sandbox.discord.core import DiscordCore, RecordedCall, _Fault
from bridgebot.sandbox.discord.state import (
    JSON,
    BotAccount,
    ChannelType,
    Dispatch,
    Intents,
    InteractionRecord,
    MessageFlags,
    new_token,
)


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

    def __init__(self, dc: DiscordDriver, record: InteractionRecord) -> None:
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


def _uid(value: JSON | str | int) -> str:
    """Accept a user/message dict or an id."""
    if isinstance(value, dict):
        return str(value["id"])
    return str(value)


class DiscordDriver(DiscordCore):
    """The test-facing half of :class:`~bridgebot.sandbox.discord.FakeDiscord`.
    """

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

    def add_guild(self, name: str, shard: tuple[int, int] | None = None) -> JSON:
        """A server; ``shard=(n, count)`` gives it an id on gateway shard n of count."""
        return self.world.add_guild(name, shard=shard)

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

    def give_nitro(self, user: JSON | str) -> None:
        """The member has Nitro (``premium_type`` 2): their messages may be 4000 characters."""
        self.world.users[_uid(user)]["premium_type"] = 2

    def set_premium_tier(self, guild_id: str, tier: int) -> None:
        """The server is boosted to ``tier`` (2: 50 MiB uploads, 3: 100 MiB); GUILD_UPDATE
        follows, as on Discord."""
        self.world.set_premium_tier(str(guild_id), tier)

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
        stickers: Iterable[tuple[str, bytes, int]] = (),
    ) -> JSON:
        """A member posts a message (MESSAGE_CREATE follows), with Discord's checks;
        ``stickers`` are (name, image, format_type), served on the sticker CDN path."""
        world = self.world
        channel_id = str(channel_id)
        author = world._public_user(world.users[_uid(user)])
        world.check_can_post(channel_id, author["id"])
        reference = None
        if reply_to is not None:
            reference = {"message_id": _uid(reply_to), "channel_id": channel_id}
        files = [world.add_attachment(channel_id, n, d, t) for n, d, t in attachments]
        items = [world.add_sticker(n, d, f) for n, d, f in stickers]
        return world.create_message(
            channel_id,
            author,
            content=content,
            embeds=embeds,
            allowed_mentions=allowed_mentions,
            message_reference=reference,
            attachments=files or None,
            sticker_items=items or None,
        )

    def user_system_message(
        self, channel_id: str, user: JSON | str, message_type: int, content: str = ""
    ) -> JSON:
        """A system message caused by a member (MESSAGE_CREATE of ``message_type``): a pin
        (6, CHANNEL_PINNED_MESSAGE), a join (7, USER_JOIN), a thread member added (1,
        RECIPIENT_ADD), a renamed thread (4, CHANNEL_NAME_CHANGE, ``content`` the new name)."""
        world = self.world
        author = world._public_user(world.users[_uid(user)])
        return world.create_message(str(channel_id), author, content=content,
                                    message_type=message_type, allow_empty=True)

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
        bot, user_id, member, perms = self._invoker(user, guild_id, channel_id, command, f"/{path[0]}")
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
        bot, user_id, member, perms = self._invoker(user, guild_id, channel_id, command, repr(name))
        target = world.render_message(world.message(channel_id, message_id))
        data: JSON = {"id": command["id"], "name": command["name"], "type": 3,
                      "target_id": message_id, "resolved": {"messages": {message_id: target}}}
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        return self._interaction_create(bot, user_id, member, guild_id, channel_id, perms, data, locale)

    def _invoker(self, user: JSON | str, guild_id: str, channel_id: str, command: JSON,
                 shown: str) -> tuple[BotAccount, str, JSON, int]:
        """The bot whose ``command`` it is, and the member who runs it with their permissions
        in the channel. As the Discord client offers a command only to members with all of
        its ``default_member_permissions``, anyone else is a PermissionError (naming the
        command as ``shown``): the one check for slash and context-menu commands."""
        world = self.world
        bot = world.bot_by_application(command["application_id"])
        assert bot is not None
        user_id = _uid(user)
        member = world.member(guild_id, user_id)
        perms = world.permissions_for(guild_id, user_id, channel_id)
        required = command.get("default_member_permissions")
        if required is not None and perms & int(required) != int(required):
            raise PermissionError(f"{user_id} may not use {shown} (needs {required})")
        return bot, user_id, member, perms

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
        for required in definitions:
            if required["name"] not in values and required.get("required"):
                raise ValueError(f"required option {required['name']!r} missing")
        for key, value in values.items():
            definition: JSON | None = next((o for o in definitions if o["name"] == key), None)
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

    async def disconnect_gateway(self, code: int | None = 4000, resumable: bool = True,
                                 shard: list[int] | None = None) -> None:
        """Drop every gateway connection, as a Discord node restart would (or, with
        ``shard``, the connection of the session identified as that shard).

        With ``code`` a close frame is sent (4000 lets discord.py RESUME);
        ``None`` aborts the TCP connection without one. Sessions stay resumable
        unless ``resumable=False``, in which case a RESUME gets INVALID_SESSION.
        Dispatches emitted while disconnected are replayed on RESUME.
        """
        for conn in list(self._connections):
            session = conn.session
            if shard is not None and (session is None or session.shard != shard):
                continue
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

    def gateway_shards(self) -> list[list[int] | None]:
        """The ``shard`` of every connected, ready gateway session (None: not sharded)."""
        return [c.session.shard for c in self._connections
                if c.session is not None and c.session.ready]

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
