"""Messages: send, edit, delete, and answering button presses.
"""

from __future__ import annotations

import copy

from bridgebot.sandbox.telegram.core import Handler, TelegramCore, _is_service, _opt_int, _req_int, _Upload
from bridgebot.sandbox.telegram.state import (
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    BotAccount,
    ChatState,
    JSONDict,
    bad_request,
    too_many_requests,
)

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def _reply_params(params: JSONDict) -> tuple[int | None, bool, str | None]:
    """``(message id, allow_sending_without_reply, quote)`` from new or legacy parameters."""
    reply = params.get("reply_parameters")
    if isinstance(reply, dict):
        message_id = _opt_int(reply, "message_id")
        if reply.get("chat_id") not in (None, params.get("chat_id")):
            raise bad_request("replies to messages in other chats are not supported by the fake")
        quote = reply.get("quote")
        return message_id, reply.get("allow_sending_without_reply") is True, quote and str(quote)
    return (
        _opt_int(params, "reply_to_message_id"),
        params.get("allow_sending_without_reply") is True,
        None,
    )


DELETE_WINDOW = 48 * 3600.0  # seconds after which nobody can delete a message (deleteMessage)


class MessageRoutes(TelegramCore):
    """Bot API methods that post or change messages.
    """

    def _messages_methods(self) -> dict[str, Handler]:
        """The Bot API methods of this module, by their canonical name."""
        return {
            "sendMessage": self._m_send_message,
            "editMessageText": self._m_edit_message_text,
            "editMessageCaption": self._m_edit_message_caption,
            "deleteMessage": self._m_delete_message,
        }

    async def _m_send_message(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        chat = self._api_chat(bot, params)
        self._require_right(bot, chat, "text")
        text, entities = self._bot_text(
            params, "text", "entities", MAX_TEXT_LENGTH, "message is too long", required=True
        )
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        preview = params.get("link_preview_options")
        if isinstance(preview, dict) and preview:
            content["link_preview_options"] = preview
        elif params.get("disable_web_page_preview") is True:
            content["link_preview_options"] = {"is_disabled": True}
        return self._bot_post(bot, chat, params, content)

    def _bot_post(
        self, bot: BotAccount, chat: ChatState, params: JSONDict, content: JSONDict
    ) -> JSONDict:
        """Places a bot message (thread, reply, topic checks), rate-limits and stores it."""
        thread_id = _opt_int(params, "message_thread_id")
        reply_id, allow_without, quote = _reply_params(params)
        reply: JSONDict | None = None
        if reply_id is not None:
            reply = chat.messages.get(reply_id)
            if reply is None and not allow_without:
                raise bad_request("message to be replied not found")
        if quote is not None and reply is not None:
            source = reply.get("text") or reply.get("caption") or ""
            if quote not in source:
                raise bad_request("QUOTE_TEXT_INVALID")
        placement = self._placement(chat, thread_id, reply)
        topic = chat.topics.get(placement[0] or 0) if placement[1] else None
        if topic is not None and topic.is_closed:
            member = chat.members.get(bot.id)
            if member is None or not member.right("can_manage_topics"):
                raise bad_request("TOPIC_CLOSED")
        if self.enforce_rate_limits:
            retry_after = self.rate_limiter.acquire(chat.id, chat.is_group)
            if retry_after is not None:
                raise too_many_requests(retry_after)
        if isinstance(params.get("reply_markup"), dict):
            markup = params["reply_markup"]
            if "inline_keyboard" in markup:
                content["reply_markup"] = markup
        if params.get("protect_content") is True:
            content["has_protected_content"] = True
        message = self._store_message(chat, bot.user, content, placement, reply, quote)
        self.stats.messages_sent += 1
        return copy.deepcopy(message)

    async def _m_edit_message_text(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        return self._edit(bot, params, "text")

    async def _m_edit_message_caption(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> JSONDict:
        return self._edit(bot, params, "caption")

    def _edit(self, bot: BotAccount, params: JSONDict, field_name: str) -> JSONDict:
        if params.get("inline_message_id") and "chat_id" not in params:
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._api_chat(bot, params)
        message_id = _opt_int(params, "message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to edit not found")
        if message.get("from", {}).get("id") != bot.id or _is_service(message):
            raise bad_request("message can't be edited")
        if field_name == "text":
            if "text" not in message:
                raise bad_request("there is no text in the message to edit")
            text, entities = self._bot_text(
                params, "text", "entities", MAX_TEXT_LENGTH, "message is too long", True
            )
            entity_key = "entities"
        else:
            if "text" in message or "sticker" in message:
                raise bad_request("there is no caption in the message to edit")
            text, entities = self._bot_text(
                params,
                "caption",
                "caption_entities",
                MAX_CAPTION_LENGTH,
                "message caption is too long",
                False,
            )
            entity_key = "caption_entities"
        markup = params.get("reply_markup")
        new_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        if (
            message.get(field_name, "") == text
            and message.get(entity_key, []) == entities
            and message.get("reply_markup") == new_markup
        ):
            raise bad_request(_NOT_MODIFIED)
        if text:
            message[field_name] = text
        else:
            message.pop(field_name, None)
        message.pop(entity_key, None)
        if entities:
            message[entity_key] = entities
        message.pop("reply_markup", None)
        if new_markup is not None:
            message["reply_markup"] = new_markup
        preview = params.get("link_preview_options")
        if field_name == "text" and isinstance(preview, dict) and preview:
            message["link_preview_options"] = preview
        message["edit_date"] = int(self.wall_clock())
        return copy.deepcopy(message)

    async def _m_delete_message(
        self, bot: BotAccount, params: JSONDict, uploads: dict[str, _Upload]
    ) -> bool:
        chat = self._api_chat(bot, params)
        message_id = _req_int(params, "message_id")
        message = chat.messages.get(message_id)
        if message is None:
            raise bad_request("message to delete not found")
        own = message.get("from", {}).get("id") == bot.id
        if "forum_topic_created" in message:
            raise bad_request("message can't be deleted")
        # "A message can only be deleted if it was sent less than 48 hours ago" (deleteMessage,
        # for every bot, admin or not, its own messages too); Telegram answers as it does
        # for a missing right.
        if self.wall_clock() - float(message.get("date", 0)) >= DELETE_WINDOW:
            raise bad_request("message can't be deleted")
        if not own and chat.type != "private":
            member = chat.members.get(bot.id)
            if member is None or not member.right("can_delete_messages"):
                raise bad_request("message can't be deleted")
        del chat.messages[message_id]
        chat.deleted_ids.add(message_id)
        return True
