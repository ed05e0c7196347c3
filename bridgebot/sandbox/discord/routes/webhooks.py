"""Webhooks: create, edit, delete, execute, and their messages.
"""

from __future__ import annotations

import copy
from typing import Any

from bridgebot.sandbox.discord.core import DiscordCore, RouteSpec, _Ctx, _truthy
from bridgebot.sandbox.discord.state import (
    JSON,
    DiscordAPIError,
    MessageFlags,
    Permissions,
    missing_permissions,
    validate_webhook_name,
)


class WebhookRoutes(DiscordCore):
    """REST routes for webhooks (and interaction follow-ups, which use them).
    """

    def _webhooks_routes(self) -> list[RouteSpec]:
        """This module's REST routes: method, path template, handler, needs a bot token,
        rate-limit rule."""
        return [
            ("GET", "/channels/{channel_id}/webhooks", self._get_channel_webhooks, True, "default"),
            ("POST", "/channels/{channel_id}/webhooks", self._post_webhook, True, "default"),
            ("GET", "/guilds/{guild_id}/webhooks", self._get_guild_webhooks, True, "default"),
            ("GET", "/webhooks/{webhook_id}", self._get_webhook, True, "default"),
            ("PATCH", "/webhooks/{webhook_id}", self._patch_webhook, True, "default"),
            ("DELETE", "/webhooks/{webhook_id}", self._delete_webhook, True, "default"),
            ("GET", "/webhooks/{webhook_id}/{webhook_token}", self._get_webhook_token, False, "default"),
            ("PATCH", "/webhooks/{webhook_id}/{webhook_token}", self._patch_webhook_token, False, "default"),
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
            # Files ride along as multipart ``files[n]``, as on any webhook execution.
            message = self._interaction_message(record, body, flags,
                                                self._attachments(record.channel_id, ctx))
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
        if self._interaction_for_webhook(ctx) is None:  # an interaction's answer is not refused
            self.world.refuse_if_archived(channel_id)
        return 200, self.world.edit_message(channel_id, message_id, ctx.body or {})

    async def _delete_webhook_message(self, ctx: _Ctx) -> tuple[int, Any]:
        channel_id, message_id = self._webhook_target(ctx)
        if self._interaction_for_webhook(ctx) is None:
            self.world.refuse_if_archived(channel_id)
        self.world.delete_message(channel_id, message_id)
        return 204, None
