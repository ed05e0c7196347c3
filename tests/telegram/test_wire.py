"""A plain text post read from the JSON (wire.plain_post) is the post python-telegram-bot's
parse gives the adapter; anything else is left to that parse."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from telegram import Bot

from bridgebot.adapters.telegram.adapter import (
    message_author,
    message_spans,
    message_text,
    replied_to,
)
from bridgebot.adapters.telegram.wire import Raw, plain_post
from bridgebot.core.models import ChannelRef, IncomingMessage

BOT = Bot("123:abc")
FORUM = {"id": -1001234, "title": "Allies forum", "type": "supergroup", "is_forum": True}
GROUP = {"id": -1005678, "title": "Allies", "type": "supergroup"}
BASIC = {"id": -4321, "title": "Old group", "type": "group"}
PRIVATE = {"id": 5001, "first_name": "Kristin", "type": "private"}
KRISTIN = {"id": 5001, "is_bot": False, "first_name": "Kristin", "last_name": "Antin",
           "language_code": "pt-br", "username": "kristin"}
OPENING = {"message_id": 7, "message_thread_id": 7, "chat": FORUM, "date": 1_700_000_000,
           "from": {"id": 9, "is_bot": True, "first_name": "bridgebot"},
           "is_topic_message": True, "forum_topic_created": {"name": "Topic", "icon_color": 1}}
# Outside the Basic Multilingual Plane (2 UTF-16 units each), joiners, right-to-left, combining.
ODD = "👩🏽‍🚀 مرحبا e\u0301 𝔘𝔫𝔦 **x** \u200b end"


def update(chat: dict[str, Any] = FORUM, text: str | None = "hello",
           sender: dict[str, Any] = KRISTIN, **fields: Any) -> dict[str, Any]:
    message = {"message_id": 123, "from": sender, "chat": chat, "date": 1_700_000_123,
               **({"text": text} if text is not None else {}), **fields}
    if chat is FORUM and "message_thread_id" not in fields:
        message.update(message_thread_id=7, is_topic_message=True)
        message.setdefault("reply_to_message", OPENING)
    return {"update_id": 900, "message": message}


def parsed(data: dict[str, Any]) -> IncomingMessage:
    """What the adapter reads from python-telegram-bot's Message (adapter._on_update)."""
    message = Raw(copy.deepcopy(data), BOT).update.message
    assert message is not None and message.from_user is not None
    author = message_author(message)
    assert author is not None
    text = message_text(message)
    reply = message.reply_to_message
    where_thread = str(message.message_thread_id) if message.is_topic_message else None
    return IncomingMessage(
        where=ChannelRef("telegram", str(message.chat.id), where_thread), message_id=str(message.message_id),
        author=author, text=text, spans=message_spans(message, text), sent_at=message.date,
        reply_to_message_id=str(reply.message_id) if reply and not reply.forum_topic_created
        else None,
        locale=message.from_user.language_code,
        chat_title=message.chat.title if message.chat.type != "private" else None,
        threadless=message.chat.type in ("group", "supergroup") and not message.chat.is_forum)


LINK = {"type": "text_link", "offset": 0, "length": 11, "url": "https://example.org/ü"}
CASES = {
    "a post in a forum topic": update(),
    "a reply to a post in a topic": update(reply_to_message={**OPENING, "message_id": 50,
                                           "forum_topic_created": None, "text": "earlier"}),
    "a plain supergroup": update(GROUP),
    "a reply in a plain supergroup": update(GROUP, reply_to_message={
        "message_id": 40, "chat": GROUP, "date": 1, "text": "x",
        "from": {"id": 6, "is_bot": False, "first_name": "B"}}, message_thread_id=40),
    "a basic group": update(BASIC),
    "a private chat": update(PRIVATE),
    "odd Unicode with formatting": update(text=ODD, entities=[
        LINK, {"type": "bold", "offset": 23, "length": 5}, {"type": "code", "offset": 30,
                                                             "length": 3},
        {"type": "text_mention", "offset": 12, "length": 6,
         "user": {"id": 77, "is_bot": False, "first_name": "Lea"}},
        {"type": "url", "offset": 0, "length": 3}]),
    "no last name, no language": update(sender={"id": 8, "is_bot": False,
                                                  "first_name": "Ada"}),
    "no name at all": update(sender={"id": 8, "is_bot": False, "first_name": ""}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_plain_post_reads_as_the_full_parse_does(name: str) -> None:
    data = CASES[name]
    assert plain_post(Raw(data, BOT)) == parsed(data)


def test_a_forum_topics_creation_is_not_what_its_posts_answer() -> None:
    """Every post of a forum topic carries the topic's creation as ``reply_to_message``;
    read from the JSON or parsed, it is no reply, and a real reply in the topic is one."""
    in_topic, answer = CASES["a post in a forum topic"], CASES["a reply to a post in a topic"]
    parsed_in_topic = Raw(copy.deepcopy(in_topic), BOT).update.message
    parsed_answer = Raw(copy.deepcopy(answer), BOT).update.message
    assert parsed_in_topic is not None and parsed_answer is not None
    assert parsed_in_topic.reply_to_message is not None and replied_to(parsed_in_topic) is None
    assert (replied_to(parsed_answer) or parsed_in_topic).message_id == 50
    plain_in_topic, plain_answer = plain_post(Raw(in_topic, BOT)), plain_post(Raw(answer, BOT))
    assert plain_in_topic is not None and plain_in_topic.reply_to_message_id is None
    assert plain_answer is not None and plain_answer.reply_to_message_id == "50"


NOT_PLAIN = {
    "a command": update(text="/status"),
    "a command for another bot": update(text="/status@otherbot"),
    "a photo": update(text=None, photo=[{"file_id": "a", "file_unique_id": "b", "width": 1,
                                         "height": 1}], caption="look"),
    "written as the group": update(sender_chat=FORUM),
    "a forward": update(forward_origin={"type": "hidden_user", "date": 1,
                                        "sender_user_name": "X"}),
    "a bot": update(sender={"id": 9, "is_bot": True, "first_name": "bot"}),
    "a service message": {"update_id": 1, "message": OPENING},
    "an edit": {"update_id": 1, "edited_message": update()["message"]},
    "a field Telegram adds later": update(some_new_field=True),
}


@pytest.mark.parametrize("name", list(NOT_PLAIN))
def test_anything_but_a_plain_text_post_is_left_to_the_full_parse(name: str) -> None:
    assert plain_post(Raw(NOT_PLAIN[name], BOT)) is None
