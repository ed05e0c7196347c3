"""Forum topics: create, edit, close, reopen, delete.
"""

from __future__ import annotations

from bridgebot.sandbox.telegram.core import Handler, TelegramCore, _opt_int, _Upload
from bridgebot.sandbox.telegram.state import (
    TOPIC_ICON_COLORS,
    BotAccount,
    ChatState,
    JSONDict,
    Topic,
    bad_request,
)


class ForumRoutes(TelegramCore):
    """Bot API methods for forum topics (Telegram's threads).
    """

    def _forum_methods(self) -> dict[str, Handler]:
        """The Bot API methods of this module, by their canonical name."""
        return {
            "createForumTopic": self._m_create_forum_topic,
            "editForumTopic": self._m_edit_forum_topic,
            "closeForumTopic": self._m_close_forum_topic,
            "reopenForumTopic": self._m_reopen_forum_topic,
            "deleteForumTopic": self._m_delete_forum_topic,
        }

    def _forum(self, bot: BotAccount, params: JSONDict) -> ChatState:
        chat = self._api_chat(bot, params)
        if not chat.is_forum:
            raise bad_request("the chat is not a forum")
        return chat

    def _topic(self, chat: ChatState, params: JSONDict) -> Topic:
        thread_id = _opt_int(params, "message_thread_id")
        if thread_id is None:
            raise bad_request("message thread identifier is not specified")
        topic = chat.topics.get(thread_id)
        if topic is None:
            raise bad_request("TOPIC_ID_INVALID")
        return topic

    def _require_topic_rights(
        self, bot: BotAccount, chat: ChatState, topic: Topic | None, action: str
    ) -> None:
        member = chat.members.get(bot.id)
        if member is not None and member.right("can_manage_topics"):
            return
        if topic is not None:
            creation = chat.messages.get(topic.message_thread_id, {})
            if creation.get("from", {}).get("id") == bot.id:
                return
        raise bad_request(f"not enough rights to {action}")

    async def _m_create_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        chat = self._forum(bot, params)
        self._require_topic_rights(bot, chat, None, "create a topic")
        name = str(params.get("name") or "")
        if not name:
            raise bad_request("TOPIC_TITLE_EMPTY")
        if len(name) > 128:
            raise bad_request("TOPIC_TITLE_TOO_LONG")
        icon_color = _opt_int(params, "icon_color") or TOPIC_ICON_COLORS[0]
        if icon_color not in TOPIC_ICON_COLORS:
            raise bad_request("TOPIC_COLOR_INVALID")
        emoji_id = params.get("icon_custom_emoji_id")
        topic = self._create_topic(chat, bot.user, name, icon_color, emoji_id and str(emoji_id))
        return topic.to_json()

    async def _m_edit_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._forum(bot, params)
        topic = self._topic(chat, params)
        self._require_topic_rights(bot, chat, topic, "edit the topic")
        changes: JSONDict = {}
        name = params.get("name")
        if name is not None and str(name) != topic.name:
            if not 1 <= len(str(name)) <= 128:
                raise bad_request("TOPIC_TITLE_EMPTY")
            changes["name"] = str(name)
        emoji_id = params.get("icon_custom_emoji_id")
        if emoji_id is not None and (str(emoji_id) or None) != topic.icon_custom_emoji_id:
            changes["icon_custom_emoji_id"] = str(emoji_id)
        if not changes:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.name = changes.get("name", topic.name)
        if "icon_custom_emoji_id" in changes:
            topic.icon_custom_emoji_id = changes["icon_custom_emoji_id"] or None
        self._store_service(chat, bot.user, topic, {"forum_topic_edited": changes})
        return True

    async def _m_close_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        return self._set_topic_closed(bot, params, True)

    async def _m_reopen_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        return self._set_topic_closed(bot, params, False)

    def _set_topic_closed(self, bot: BotAccount, params: JSONDict, closed: bool) -> bool:
        chat = self._forum(bot, params)
        topic = self._topic(chat, params)
        self._require_topic_rights(bot, chat, topic, "close the topic" if closed else "reopen")
        if topic.is_closed == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.is_closed = closed
        event = "forum_topic_closed" if closed else "forum_topic_reopened"
        self._store_service(chat, bot.user, topic, {event: {}})
        return True

    async def _m_delete_forum_topic(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._forum(bot, params)
        topic = self._topic(chat, params)
        member = chat.members.get(bot.id)
        if member is None or not member.right("can_delete_messages"):
            raise bad_request("not enough rights to delete the topic")
        for message_id in [
            mid
            for mid, msg in chat.messages.items()
            if msg.get("message_thread_id") == topic.message_thread_id
        ]:
            del chat.messages[message_id]
            chat.deleted_ids.add(message_id)
        del chat.topics[topic.message_thread_id]
        return True
