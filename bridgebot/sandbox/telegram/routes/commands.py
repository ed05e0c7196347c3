"""The bot's command menu: setMyCommands, getMyCommands, deleteMyCommands.
"""

from __future__ import annotations

import copy

from bridgebot.sandbox.telegram.core import Handler, TelegramCore, _scope_key, _Upload
from bridgebot.sandbox.telegram.state import (
    BotAccount,
    JSONDict,
    bad_request,
)

_COMMAND_SCOPES = frozenset(
    {
        "default", "all_private_chats", "all_group_chats", "all_chat_administrators",
        "chat", "chat_administrators", "chat_member",
    }
)  # fmt: skip


class CommandRoutes(TelegramCore):
    """Bot API methods for the command menu, per scope and language.
    """

    def _commands_methods(self) -> dict[str, Handler]:
        """The Bot API methods of this module, by their canonical name."""
        return {
            "setMyCommands": self._m_set_my_commands,
            "getMyCommands": self._m_get_my_commands,
            "deleteMyCommands": self._m_delete_my_commands,
        }

    def _command_key(self, bot: BotAccount, params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _COMMAND_SCOPES:
            raise bad_request("invalid scope specified")
        scope = dict(scope)
        if "chat_id" in scope:
            chat = self._api_chat(bot, {"chat_id": scope["chat_id"]})
            scope["chat_id"] = chat.id
        elif scope["type"] in {"chat", "chat_administrators", "chat_member"}:
            raise bad_request("chat_id is empty")
        language = str(params.get("language_code") or "")
        if language and (len(language) != 2 or not language.isalpha()):
            raise bad_request("invalid language code specified")
        return _scope_key(scope), language

    async def _m_set_my_commands(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("commands is empty")  # real text for a missing/invalid list
        if len(commands) > 100:
            raise bad_request("too many commands")
        clean: list[JSONDict] = []
        for item in commands:
            if not isinstance(item, dict):
                raise bad_request("BOT_COMMAND_INVALID")
            command = str(item.get("command") or "")
            description = str(item.get("description") or "")
            if not 1 <= len(command) <= 32 or not all(
                ch.isascii() and (ch.islower() or ch.isdigit() or ch == "_") for ch in command
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": command, "description": description})
        key = self._command_key(bot, params)
        if clean:
            bot.commands[key] = clean
        else:
            bot.commands.pop(key, None)
        return True

    async def _m_get_my_commands(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> list[JSONDict]:
        return copy.deepcopy(bot.commands.get(self._command_key(bot, params), []))

    async def _m_delete_my_commands(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        bot.commands.pop(self._command_key(bot, params), None)
        return True
