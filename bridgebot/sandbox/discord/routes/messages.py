"""Channels and their messages: read, post, edit, delete, typing.
"""

from __future__ import annotations

import copy
from typing import Any

from bridgebot.sandbox.discord.core import DiscordCore, RouteSpec, _Ctx
from bridgebot.sandbox.discord.state import (
    DiscordAPIError,
    MessageFlags,
    Permissions,
    form_error,
    missing_access,
    missing_permissions,
    thread_archived,
)

MAX_PINS = 250  # Discord's limit of pinned messages per channel


class MessageRoutes(DiscordCore):
    """REST routes for channels and messages.
    """

    def _messages_routes(self) -> list[RouteSpec]:
        """This module's REST routes: method, path template, handler, needs a bot token,
        rate-limit rule."""
        return [
            ("GET", "/channels/{channel_id}", self._get_channel, True, "default"),
            ("PATCH", "/channels/{channel_id}", self._patch_channel, True, "default"),
            ("DELETE", "/channels/{channel_id}", self._delete_channel, True, "default"),
            ("GET", "/channels/{channel_id}/messages", self._get_messages, True, "default"),
            ("POST", "/channels/{channel_id}/messages", self._post_message, True, "channel_messages"),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message, True, "default"),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._patch_message, True, "default"),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message, True, "default"),
            ("POST", "/channels/{channel_id}/typing", self._typing, True, "default"),
            ("PUT", "/channels/{channel_id}/messages/pins/{message_id}", self._pin, True, "default"),
            ("DELETE", "/channels/{channel_id}/messages/pins/{message_id}", self._unpin, True,
             "default"),
            # The older spelling of the same routes (the spec keeps both).
            ("PUT", "/channels/{channel_id}/pins/{message_id}", self._pin, True, "default"),
            ("DELETE", "/channels/{channel_id}/pins/{message_id}", self._unpin, True, "default"),
        ]

    async def _pin(self, ctx: _Ctx) -> tuple[int, Any]:
        """create_pin: Manage Messages in the channel (403 50013 otherwise), not in an
        archived thread, at most 250 pins per channel (400 30003); 204. The message's
        ``pinned`` turns true and a MESSAGE_UPDATE says so."""
        channel = self._visible_channel(ctx)
        msg = self.world.message(channel["id"], ctx.params["message_id"])
        if not self._perms(ctx, channel) & Permissions.MANAGE_MESSAGES:
            raise missing_permissions()
        self.world.refuse_if_archived(channel["id"])
        pinned = [m for m in self.world.messages.get(channel["id"], {}).values() if m.get("pinned")]
        if not msg.get("pinned") and len(pinned) >= MAX_PINS:
            raise DiscordAPIError(400, 30003, f"Maximum number of pins reached ({MAX_PINS})")
        if not msg.get("pinned"):
            msg["pinned"] = True
            self.world._emit_message("MESSAGE_UPDATE", msg)
        return 204, None

    async def _unpin(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        msg = self.world.message(channel["id"], ctx.params["message_id"])
        if not self._perms(ctx, channel) & Permissions.MANAGE_MESSAGES:
            raise missing_permissions()
        self.world.refuse_if_archived(channel["id"])
        if msg.get("pinned"):
            msg["pinned"] = False
            self.world._emit_message("MESSAGE_UPDATE", msg)
        return 204, None

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
        self.world.refuse_if_archived(channel["id"])
        return 200, self.world.edit_message(channel["id"], msg["id"], ctx.body or {}, editor_perms=perms)

    async def _delete_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel = self._visible_channel(ctx)
        msg = self.world.message(channel["id"], ctx.params["message_id"])
        own = msg["author"]["id"] == self._bot(ctx).id and "webhook_id" not in msg
        if not own and not self._perms(ctx, channel) & Permissions.MANAGE_MESSAGES:
            raise missing_permissions()
        self.world.refuse_if_archived(channel["id"])
        self.world.delete_message(channel["id"], msg["id"])
        return 204, None

    async def _typing(self, ctx: _Ctx) -> tuple[int, Any]:
        self._visible_channel(ctx)
        return 204, None
