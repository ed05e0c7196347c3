"""Chats and members: getChat, getChatMember, leaveChat, sendChatAction.
"""

from __future__ import annotations

from bridgebot.sandbox.telegram.core import Handler, TelegramCore, _opt_int, _req_int, _Upload
from bridgebot.sandbox.telegram.state import (
    RESTRICTED_PERMISSIONS,
    BotAccount,
    JSONDict,
    bad_request,
)

_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip


class ChatRoutes(TelegramCore):
    """Bot API methods about chats and their members.
    """

    def _chats_methods(self) -> dict[str, Handler]:
        """The Bot API methods of this module, by their canonical name."""
        return {
            "getChat": self._m_get_chat,
            "getChatMember": self._m_get_chat_member,
            "getChatAdministrators": self._m_get_chat_administrators,
            "getChatMemberCount": self._m_get_chat_member_count,
            "sendChatAction": self._m_send_chat_action,
            "leaveChat": self._m_leave_chat,
        }

    async def _m_get_chat(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        chat = self._api_chat(bot, params)
        info = chat.to_json()
        info.update(
            {
                "accent_color_id": abs(chat.id) % 7,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        if chat.type != "private":
            info["permissions"] = {name: True for name in RESTRICTED_PERMISSIONS}
            if chat.username:
                info["active_usernames"] = [chat.username]
        return info

    async def _m_get_chat_member(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        chat = self._api_chat(bot, params)
        user_id = _req_int(params, "user_id")
        if user_id not in self._users:
            raise bad_request("user not found")
        return self._member_json(chat, user_id)

    async def _m_get_chat_administrators(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> list[JSONDict]:
        chat = self._api_chat(bot, params)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        return [
            self._member_json(chat, user_id)
            for user_id, member in chat.members.items()
            if member.status in {"creator", "administrator"}
        ]

    async def _m_get_chat_member_count(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> int:
        chat = self._api_chat(bot, params)
        return sum(1 for member in chat.members.values() if member.is_present)

    async def _m_send_chat_action(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._api_chat(bot, params)
        if str(params.get("action") or "") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        thread_id = _opt_int(params, "message_thread_id")
        if thread_id:
            self._resolve_thread(chat, thread_id)
        return True

    async def _m_leave_chat(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._api_chat(bot, params)
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        self._change_member(chat, bot.id, "left", {}, actor=bot.user)
        return True
