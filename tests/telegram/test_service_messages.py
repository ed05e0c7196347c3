"""Only people's messages are posts: a Telegram service message in a topic never becomes one.

In a forum, everything in a topic's thread is placed in that topic, so a person renaming
the topic, pinning, joining or leaving would otherwise be mirrored as "[attachment]".
"""

from __future__ import annotations

import pytest

SERVICE = [
    {"forum_topic_created": {"name": "Opened by a person", "icon_color": 7322096}},
    {"forum_topic_edited": {"name": "Renamed by a person"}},
    {"forum_topic_closed": {}},
    {"forum_topic_reopened": {}},
    {"new_chat_title": "Allies (renamed)"},
    {"new_chat_photo": [{"file_id": "AgAC-photo", "file_unique_id": "AQAD-photo", "width": 640,
                         "height": 640}]},
    {"delete_chat_photo": True},
    {"pinned_message": {"message_id": 1, "date": 0, "chat": {"id": 0, "type": "supergroup"}}},
    {"new_chat_members": [{"id": 991, "is_bot": False, "first_name": "Newcomer"}]},
    {"left_chat_member": {"id": 991, "is_bot": False, "first_name": "Newcomer"}},
]


@pytest.mark.parametrize("content", SERVICE, ids=lambda c: next(iter(c)))
async def test_a_service_message_in_a_topic_creates_no_post(world, content):
    w = world
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "/newtopic Engaging allies\nShare examples.")
    await w.settle()
    thread = w.tg.topics(w.forum["id"])[0]["message_thread_id"]
    w.tg.user_service_message(w.forum["id"], w.brittany.tg, content, thread_id=thread)
    w.tg.user_sends(w.forum["id"], w.brittany.tg, "A real post.", thread_id=thread)
    await w.settle()
    posts = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert [p.text for p in posts] == ["A real post."]
    mirrored = [m["text"] for m in w.bot_messages(w.group) if "Brittany" in m["text"]]
    assert len(mirrored) == 1 and mirrored[0].endswith("A real post.")


async def test_a_topic_a_member_opens_by_hand_creates_no_post(world):
    w = world
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "/newtopic Engaging allies\nShare examples.")
    await w.settle()
    thread = w.tg.topics(w.forum["id"])[0]["message_thread_id"]
    w.tg.user_creates_topic(w.forum["id"], w.brittany.tg, "Opened by hand")
    w.tg.user_sends(w.forum["id"], w.brittany.tg, "A real post.", thread_id=thread)
    await w.settle()
    posts = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert [p.text for p in posts] == ["A real post."]
    assert not [t for t in w.bot_texts(w.group) if "Opened by hand" in t or "[attachment" in t]
