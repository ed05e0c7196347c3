"""The application, its slash commands and interaction callbacks.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from bridgebot.sandbox.discord.core import DiscordCore, RouteSpec, _Ctx, _truthy
from bridgebot.sandbox.discord.state import (
    JSON,
    DiscordAPIError,
    InteractionRecord,
    MessageFlags,
    MessageType,
    Permissions,
    form_error,
)


class CommandRoutes(DiscordCore):
    """REST routes for application commands and interaction answers.
    """

    def _commands_routes(self) -> list[RouteSpec]:
        """This module's REST routes: method, path template, handler, needs a bot token,
        rate-limit rule."""
        return [
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
        ]

    async def _get_application(self, ctx: _Ctx) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._bot(ctx).application)

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

    def _interaction(self, interaction_id: str, token: str) -> InteractionRecord:
        record = self.world.interactions.get(interaction_id)
        if record is None or not secrets.compare_digest(record.token, token):
            raise DiscordAPIError(404, 10062, "Unknown interaction")
        return record

    def _interaction_message(self, record: InteractionRecord, data: JSON, flags: int,
                             attachments: list[JSON] | None = None) -> JSON:
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
            allow_empty=bool(flags & MessageFlags.LOADING) or bool(attachments),
            attachments=attachments,
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
