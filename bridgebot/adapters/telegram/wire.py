"""Updates as ``getUpdates`` returns them, parsed by python-telegram-bot only when needed.

Why: ``Update.de_json`` costs about 0.2-0.4 ms an update on a quiet machine (a ``Message``
sets some hundred attributes through ``TelegramObject.__setattr__``, and a post in a forum
topic carries a second one: the topic's creation message it nominally replies to), which
is as much CPU as everything else bridgebot does to take a post, commit included. Most
updates are a person's plain text post, and a post needs a dozen of those fields, so
:func:`plain_post` reads those straight from the JSON. It takes only a message whose every
field is in :data:`PLAIN_FIELDS`; anything else (files, commands, edits, people writing as a
chat, forwards, fields Telegram adds later) goes the full way through :attr:`Raw.update`,
which is also what an answer to a plain post is sent with (parsed then, once).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from telegram import Bot, Message, MessageEntity, Update

from bridgebot.adapters.telegram.richtext import spans_from_entities
from bridgebot.core.models import Author, ChannelRef, IncomingMessage

JSONDict = dict[str, Any]
PLATFORM = "telegram"
# A message with only these fields is a plain text post (entities: its formatting).
PLAIN_FIELDS = frozenset({"message_id", "message_thread_id", "from", "chat", "date",
                          "is_topic_message", "reply_to_message", "text", "entities"})


class Raw:
    """One update as received; :attr:`update` is python-telegram-bot's, built on first use."""

    __slots__ = ("_update", "bot", "data")

    def __init__(self, data: JSONDict, bot: Bot, update: Update | None = None) -> None:
        self.data = data
        self.bot = bot
        self._update = update

    @property
    def update_id(self) -> int:
        return int(self.data["update_id"])

    @property
    def message(self) -> JSONDict | None:
        """The new message's JSON (None for an edit or another kind of update)."""
        message = self.data.get("message")
        return message if isinstance(message, dict) else None

    @property
    def update(self) -> Update:
        if self._update is None:
            self._update = Update.de_json(self.data, self.bot)
        return self._update


def shown_name(first: str | None, last: str | None) -> str:
    """How a Telegram person is named on the bridge: first and last name only, usernames
    and ids never cross it. The one rule for a parsed ``User`` (``adapter.display_name``)
    and for the JSON (:func:`display_name`)."""
    return f"{first or ''} {last or ''}".strip() or "Telegram user"


def display_name(user: JSONDict) -> str:
    """:func:`shown_name` of a ``from`` object as the JSON has it."""
    return shown_name(user.get("first_name"), user.get("last_name"))


def is_topic_opening(reply: JSONDict | Message | None) -> bool:
    """The message every post of a forum topic nominally replies to: the topic's creation
    (a service line), not a post anyone answers; the topic is found by the thread.

    The one rule for both forms a reply comes in: the JSON (:func:`plain_post`) and
    python-telegram-bot's parsed ``Message`` (the adapter's full way)."""
    if isinstance(reply, Message):
        return reply.forum_topic_created is not None
    return isinstance(reply, dict) and reply.get("forum_topic_created") is not None


def plain_post(update: Raw, cursor: tuple[str, str] | None = None,
               album_complete: bool = False) -> IncomingMessage | None:
    """The post a person's plain text message makes, read from the JSON as the adapter
    reads it from the parsed ``Message``; None when the update is anything else (then
    :attr:`Raw.update` is read the full way). ``cursor`` and ``album_complete`` are the
    adapter's, as for any message (:class:`IncomingMessage`)."""
    message = update.message
    if message is None or not PLAIN_FIELDS.issuperset(message):
        return None
    text, user, chat = message.get("text"), message.get("from"), message.get("chat")
    if (not isinstance(text, str) or not text or text.startswith("/")  # commands: full way
            or not isinstance(user, dict) or user.get("is_bot", True)
            or not isinstance(chat, dict) or not isinstance(message.get("date"), int)):
        return None
    topic_message = bool(message.get("is_topic_message"))
    reply = message.get("reply_to_message")
    entities = message.get("entities")
    kind = chat.get("type")
    locale = user.get("language_code")
    return IncomingMessage(
        where=ChannelRef(PLATFORM, str(chat["id"]),
                         str(message.get("message_thread_id")) if topic_message else None),
        message_id=str(message["message_id"]),
        author=Author(PLATFORM, str(user["id"]), display_name(user)),
        text=text,
        spans=spans_from_entities(text, MessageEntity.de_list(entities, update.bot))
        if entities else (),
        sent_at=datetime.fromtimestamp(message["date"], UTC),
        reply_to_message_id=str(reply["message_id"]) if isinstance(reply, dict)
        and not is_topic_opening(reply) else None,
        cursor=cursor,
        locale=locale if isinstance(locale, str) else None,
        chat_title=chat.get("title") if kind != "private" else None,
        threadless=kind in ("group", "supergroup") and not chat.get("is_forum"),
        album_complete=album_complete,
    )
