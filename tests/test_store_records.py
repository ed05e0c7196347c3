"""What the store promises about the records it hands back, for any content.

Posts arriving together (several topics, one group commit) keep a dense number per topic
(#1 the opening post, then 2, 3, ... in arrival order, no gap, no repeat), and every post
reads back exactly as written: text, subject, author, reply and question links.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgebot.core.models import Attachment, Author, ChannelRef
from bridgebot.store import open_database
from bridgebot.store.privacy import PrivacyStore
from bridgebot.store.repo import Store

from .auxil.postgres import STORES

pytestmark = pytest.mark.parametrize("store", STORES, indirect=True)

START = datetime(2027, 3, 22, 14, 0, tzinfo=UTC)
FORUM = ChannelRef("console", "forum")
LOUNGE = ChannelRef("console", "lounge")
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=200)
AUTHOR = st.tuples(st.sampled_from(["console", "telegram", "discord"]),
                   st.sampled_from(["1", "2", "3"]), TEXT.filter(str.strip))
POST = st.tuples(st.integers(0, 2), TEXT, st.one_of(st.none(), TEXT), AUTHOR, st.booleans())


async def _write_and_read(path: Path | str,
                          posts: list[tuple[int, str, str | None, tuple[str, str, str], bool]]):
    db = open_database(path)
    await db.open()
    store = Store(db)
    try:
        kristin = Author("console", "kristin", "Kristin Antin")
        topics = [await store.create_topic("allies", f"Topic {i}", "", kristin, START, [FORUM, LOUNGE])
                  for i in range(3)]
        prompt = await store.add_prompt(topics[0], "What was the impact?", START, [FORUM])

        async def add(i: int, post: tuple[int, str, str | None, tuple[str, str, str], bool]):
            which, text, subject, (platform, user_id, name), answers_prompt = post
            await asyncio.sleep(0)  # arrive interleaved: several posts share one commit
            return await store.add_post(
                topic_id=topics[which], author=Author(platform, user_id, name), text=text,
                subject=subject, parent_id=None,
                prompt_id=prompt if answers_prompt and which == 0 else None,
                created_at=START + timedelta(seconds=i), origin=FORUM.chat, message_id=f"m{i}",
                targets=[LOUNGE],
            )

        written = await asyncio.gather(*(add(i, post) for i, post in enumerate(posts)))
        return topics, prompt, written, {t: await store.posts(t) for t in topics}
    finally:
        await db.close()


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(st.lists(POST, min_size=1, max_size=25))
def test_posts_written_together_read_back_exactly_and_are_numbered_densely(database, posts):
    with tempfile.TemporaryDirectory() as tmp:
        topics, prompt, written, stored = asyncio.run(
            _write_and_read(database(Path(tmp) / "db.sqlite3"), posts))
    for topic_id in topics:
        numbers = [p.number for p in stored[topic_id]]
        assert numbers == list(range(1, len(numbers) + 1)), "dense numbers, the opening post #1"
    by_id = {p.id: p for ps in stored.values() for p in ps}
    assert len({post_id for post_id, _ in written}) == len(posts), "one post per message"
    for (which, text, subject, (platform, user_id, _), answers_prompt), (post_id, number) in zip(
            posts, written, strict=True):
        post = by_id[post_id]
        assert post.topic_id == topics[which] and post.number == number
        assert (post.text, post.subject) == (text, subject)
        assert (post.author_platform, post.author_id) == (platform, user_id)
        assert post.prompt_id == (prompt if answers_prompt and which == 0 else None)
        assert post.parent_id is None and not post.hidden
    # Within a topic, numbers follow arrival order (the order add_post was called in).
    for topic_id in topics:
        arrived = [number for (which, *_), (_, number) in zip(posts, written, strict=True)
                   if topics[which] == topic_id]
        assert arrived == sorted(arrived)


async def test_a_topics_authors_read_at_once_are_each_posts_author(database, tmp_path):
    """A whole topic's authors (archive pages) are the ones asked post by post: each person
    read once, with their alias on the bridge and their pseudonym in that topic."""
    db = open_database(database(tmp_path / "db.sqlite3"))
    await db.open()
    store, privacy = Store(db), PrivacyStore(db)
    try:
        kristin = Author("console", "kristin", "Kristin Antin")
        brittany = Author("telegram", "2", "Brittany Landorf")
        jessica = Author("discord", "3", "Jessica Okafor")
        topics = [await store.create_topic("allies", f"Topic {i}", "", kristin, START,
                                           [FORUM, LOUNGE]) for i in range(2)]
        await privacy.set_alias("allies", brittany, "Desert Rose", "desertrose", START)
        for i, (topic, author) in enumerate([(0, brittany), (1, jessica), (0, jessica),
                                             (1, brittany), (0, brittany), (0, kristin)]):
            await store.add_post(topic_id=topics[topic], author=author, text=f"Post {i}",
                                 subject=None, parent_id=None, prompt_id=None,
                                 created_at=START + timedelta(seconds=i), origin=FORUM.chat,
                                 message_id=f"m{i}", targets=[LOUNGE])
        for topic in topics:
            ids = [p.id for p in await store.posts(topic)]
            whole = await privacy.topic_identities(topic)
            assert whole == await privacy.identities(ids) and sorted(whole) == ids
        shown = {(i.display_name, i.alias, i.pseudonym)
                 for i in (await privacy.topic_identities(topics[0])).values()}
        assert ("Brittany Landorf", "Desert Rose", 1) in shown
        assert ("Jessica Okafor", None, 2) in shown
    finally:
        await db.close()


async def test_a_long_topics_page_reads_where_posts_stand_then_only_its_own(database, tmp_path):
    """A page of a long topic: every visible post's id, number and parent (no words), then
    the page's posts exactly as the whole topic reads them; a hidden post is in neither."""
    db = open_database(database(tmp_path / "db.sqlite3"))
    await db.open()
    store = Store(db)
    try:
        kristin = Author("console", "kristin", "Kristin Antin")
        topic = await store.create_topic("allies", "Topic", "", kristin, START, [FORUM, LOUNGE])
        ids: list[int] = []
        for i in range(8):
            post_id, _ = await store.add_post(
                topic_id=topic, author=Author("telegram", str(i % 3), f"Person {i % 3}"),
                text=f"Post {i}", subject=None, parent_id=ids[i // 2] if i > 1 else None,
                prompt_id=None, created_at=START + timedelta(seconds=i), origin=FORUM.chat,
                message_id=f"m{i}", targets=[LOUNGE])
            ids.append(post_id)
        await store.set_hidden(ids[3], True, "Kristin Antin", START, [LOUNGE])
        whole = await store.posts(topic)
        outline = await store.post_outline(topic)
        assert [(s.id, s.number, s.parent_id) for s in outline] == [
            (p.id, p.number, p.parent_id) for p in whole]
        assert ids[3] not in {s.id for s in outline}
        wanted = [ids[5], ids[0], ids[3], ids[7]]
        assert await store.posts_by_ids(topic, wanted) == [p for p in whole if p.id in wanted]
    finally:
        await db.close()


async def test_what_the_relay_reads_per_delivery_comes_back_whole(database, tmp_path):
    """The relay reads a topic with its place on the target, and a post with its files, in
    one statement each: the topic's thread where it was opened and nothing where it was not
    yet, no topic for a deleted id; every file in order, and none for a post without."""
    db = open_database(database(tmp_path / "db.sqlite3"))
    await db.open()
    store = Store(db)
    try:
        kristin = Author("console", "kristin", "Kristin Antin")
        topic = await store.create_topic("allies", "Engaging allies", "Share examples.", kristin,
                                         START, [FORUM, LOUNGE])
        [opening] = [h for h in await store.pending_heads() if h.target == FORUM]
        await store.complete(opening, ["root-1"], "thread-7", START, topic_id=topic,
                             prompt_id=None, post_id=None)
        placed = await store.topic_on(topic, FORUM)
        assert placed is not None and placed[0] == await store.topic(topic)
        assert placed[1:] == ("thread-7", "root-1")
        assert (await store.topic_on(topic, LOUNGE))[1:] == (None, None)  # type: ignore[index]
        assert await store.topic_on(topic + 100, FORUM) is None

        files = [Attachment(name=f"photo{i}.jpg", mime_type="image/jpeg", size=100 + i,
                            sha256=f"{i:064x}", kind="photo") for i in (2, 0, 1)]
        with_files, _ = await store.add_post(
            topic_id=topic, author=kristin, text="Three photos", subject=None, parent_id=None,
            prompt_id=None, created_at=START, origin=FORUM.chat, message_id="m1",
            targets=[LOUNGE], attachments=files)
        plain, number = await store.add_post(
            topic_id=topic, author=kristin, text="No photo", subject="Re: photos",
            parent_id=with_files, prompt_id=None, created_at=START, origin=FORUM.chat,
            message_id="m2", targets=[LOUNGE])
        read = await store.post(with_files)
        assert read is not None and read.attachments == tuple(files) and read.text == "Three photos"
        alone = await store.post_by_number(topic, number)
        assert alone is not None and alone.id == plain and alone.attachments == ()
        assert (alone.subject, alone.parent_id) == ("Re: photos", with_files)
        assert await store.post(plain + 100) is None
    finally:
        await db.close()
