"""Group commit in one chat (issue 15): the posts of one getUpdates answer share commits,
keep their order in every topic, and the offset saved is the answer's last update; what
must come after them (a reply to one, an edit of one, a /lock) still does."""

from __future__ import annotations

import asyncio

from bridgebot.adapters.telegram.adapter import CURSOR
from bridgebot.core.models import Author, ChannelRef

from ..auxil.world import World
from ..conftest import Build

TOPICS = 10


async def ten_topics_in_the_forum(w: World) -> dict[int, int]:
    """Ten open topics in the Telegram forum; topic id -> its forum thread."""
    assert w.tg is not None
    core = w.runtime.core
    forum = ChannelRef("telegram", str(w.forum["id"]))
    kristin = Author("telegram", str(w.kristin.tg["id"]), "Kristin")
    ids = [(await core.open_topic(kristin, forum, f"Topic {i}", "What do you think?",
                                  platform_admin=True)).id for i in range(TOPICS)]
    await w.until(lambda: len(w.tg.topics(w.forum["id"])) == TOPICS)  # type: ignore[union-attr]
    await w.runtime.drain()
    threads = {t["name"]: t["message_thread_id"] for t in w.tg.topics(w.forum["id"])}
    return {topic_id: threads[f"Topic {i}"] for i, topic_id in enumerate(ids)}


async def test_twenty_posts_over_ten_topics_in_one_answer_share_commits_in_order(build: Build):
    w = await build(telegram=("forum",), discord=())
    assert w.tg is not None
    places = await ten_topics_in_the_forum(w)
    writer = w.runtime.store.writer
    commits = writer.batches
    people = [w.brittany.tg, w.jessica.tg, w.quiet.tg]
    # Written together (no await between them): Telegram answers the next getUpdates with
    # all twenty, the topics interleaved as in a lively forum.
    for p in range(2):
        for n, (topic_id, thread) in enumerate(places.items()):
            w.tg.user_sends(w.forum["id"], people[(p + n) % 3], f"t{topic_id}p{p} my view",
                            thread_id=thread)
    last_update = max(u["update_id"] for u in w.tg.pending_updates())

    async def recorded() -> bool:
        return all([len(await w.runtime.store.posts(t)) == 3 for t in places])

    for _ in range(200):
        if await recorded():
            break
        await asyncio.sleep(0.05)
    for topic_id in places:
        texts = [p.text for p in await w.runtime.store.posts(topic_id)][1:]
        assert texts == [f"t{topic_id}p0 my view", f"t{topic_id}p1 my view"], "each in order"
    assert writer.batches - commits < 2 * TOPICS, "the answer's posts share commits"
    # The offset saved with the last post is the one after the answer's last update.
    assert await w.runtime.store.cursor(CURSOR) == str(last_update + 1)
    await w.until(lambda: not w.tg.pending_updates())  # type: ignore[union-attr]


async def test_a_reply_an_edit_and_a_lock_behind_posts_of_the_same_answer_come_after_them(
        build: Build):
    w = await build(telegram=("group", "forum"), discord=(), open_topic=True)
    assert w.tg is not None
    group, root = w.group["id"], w.root["message_id"]
    commits = w.runtime.store.writer.batches
    # One getUpdates answer: Brittany's post, Jessica's reply to it, Brittany's edit of it,
    # Kristin's /lock, and a reply that comes too late.
    first = w.tg.user_sends(group, w.brittany.tg, "First thoughts", reply_to=root)
    w.tg.user_sends(group, w.jessica.tg, "Answering Brittany", reply_to=first["message_id"])
    w.tg.user_edits(group, first["message_id"], "First thoughts, edited")
    w.tg.user_sends(group, w.kristin.tg, "/lock Enough for today", reply_to=root)
    w.tg.user_sends(group, w.quiet.tg, "Too late", reply_to=root)
    last_update = max(u["update_id"] for u in w.tg.pending_updates())
    await w.until(lambda: any("is locked" in c.params["text"] for c in w.sent(w.group)))
    await w.until(lambda: not w.tg.pending_updates())  # type: ignore[union-attr]
    posts = await w.runtime.store.posts(1)
    assert [p.text for p in posts][1:] == ["First thoughts, edited", "Answering Brittany"]
    assert posts[2].parent_id == posts[1].id, "the reply found its parent, queued before it"
    topic = await w.runtime.store.topic(1)
    assert topic is not None and topic.is_locked
    assert w.runtime.store.writer.batches - commits >= 1
    assert await w.runtime.store.cursor(CURSOR) == str(last_update + 1)
    # In the forum, both posts are shown before the lock notice.
    await w.runtime.drain()
    shown = w.bot_texts(w.forum)
    lock = next(i for i, text in enumerate(shown) if "Enough for today" in text)
    assert any("First thoughts" in text for text in shown[:lock])
    assert any("Answering Brittany" in text for text in shown[:lock])
