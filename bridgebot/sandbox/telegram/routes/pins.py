"""Pinned messages: pinChatMessage and unpinChatMessage.

As the Bot API says (pinChatMessage): in private chats any message can be pinned; in groups
the bot must be an administrator with ``can_pin_messages`` (Telegram answers 400 "not enough
rights to manage pinned messages in the chat" otherwise). Service messages cannot be pinned.
A pin posts the "pinned a message" service message into the chat, as the apps show it.
"""

from __future__ import annotations

import copy

from bridgebot.sandbox.telegram.core import Handler, TelegramCore, _req_int, _Upload
from bridgebot.sandbox.telegram.state import BotAccount, ChatState, JSONDict, bad_request

NO_RIGHTS = "not enough rights to manage pinned messages in the chat"


class PinRoutes(TelegramCore):
    """Bot API methods that pin and unpin messages."""

    def _pins_methods(self) -> dict[str, Handler]:
        """The Bot API methods of this module, by their canonical name."""
        return {
            "pinChatMessage": self._m_pin_chat_message,
            "unpinChatMessage": self._m_unpin_chat_message,
        }

    def pinned(self, chat_id: int) -> list[int]:
        """The pinned messages of a chat, oldest pin first (for tests)."""
        return list(self._pins.setdefault(chat_id, []))

    @property
    def _pins(self) -> dict[int, list[int]]:
        if not hasattr(self, "_pinned_ids"):
            self._pinned_ids: dict[int, list[int]] = {}
        return self._pinned_ids

    def _may_pin(self, bot: BotAccount, chat: ChatState) -> None:
        if chat.type == "private":
            return
        member = chat.members.get(bot.id)
        if member is None or not member.right("can_pin_messages"):
            raise bad_request(NO_RIGHTS)

    async def _m_pin_chat_message(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._api_chat(bot, params)
        message_id = _req_int(params, "message_id")
        self._may_pin(bot, chat)
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to pin not found")
        if not any(key in message for key in ("text", "caption", "photo", "document", "voice",
                                                "sticker")):
            raise bad_request("message can't be pinned")
        pins = self._pins.setdefault(chat.id, [])
        if message_id in pins:
            pins.remove(message_id)
        pins.append(message_id)
        service: JSONDict = {"pinned_message": copy.deepcopy(message)}
        self._bot_post(bot, chat, {"message_thread_id": message.get("message_thread_id")}
                       if message.get("is_topic_message") else {}, service)
        return True

    async def _m_unpin_chat_message(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._api_chat(bot, params)
        self._may_pin(bot, chat)
        pins = self._pins.setdefault(chat.id, [])
        raw = params.get("message_id")
        message_id = _req_int(params, "message_id") if raw not in (None, "") else None
        if message_id is None:
            if pins:
                pins.pop()
        elif message_id in pins:
            pins.remove(message_id)
        return True
