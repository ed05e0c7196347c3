"""Threads and forum posts: start, join, leave, list.
"""

from __future__ import annotations

import copy
from typing import Any

from bridgebot.sandbox.discord.core import DiscordCore, RouteSpec, _Ctx
from bridgebot.sandbox.discord.state import (
    JSON,
    ChannelType,
    DiscordAPIError,
    MessageType,
    Permissions,
    form_error,
    missing_permissions,
)


class ThreadRoutes(DiscordCore):
    """REST routes for threads and forum posts.
    """

    def _threads_routes(self) -> list[RouteSpec]:
        """This module's REST routes: method, path template, handler, needs a bot token,
        rate-limit rule."""
        return [
            ("POST", "/channels/{channel_id}/threads", self._post_thread, True, "default"),
            (
                "POST",
                "/channels/{channel_id}/messages/{message_id}/threads",
                self._post_message_thread,
                True,
                "default",
            ),
            ("PUT", "/channels/{channel_id}/thread-members/@me", self._join_thread, True, "default"),
            ("DELETE", "/channels/{channel_id}/thread-members/@me", self._leave_thread, True, "default"),
            (
                "GET",
                "/channels/{channel_id}/threads/archived/public",
                self._archived_threads,
                True,
                "default",
            ),
            ("GET", "/guilds/{guild_id}/threads/active", self._active_threads, True, "default"),
        ]

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
