""""N posts / M new" from the counts kept per topic: right after posts are written, hidden
and shown again, for a reader whose mark is early, late or absent (issue 15: the index and
private /status read a kept count instead of counting every post)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridgebot.core.models import Author, ChannelRef
from bridgebot.store import open_database
from bridgebot.store.repo import Store

from .auxil.postgres import STORES

pytestmark = pytest.mark.parametrize("store", STORES, indirect=True)

START = datetime(2027, 3, 22, 14, 0, tzinfo=UTC)
FORUM = ChannelRef("console", "forum")
KRISTIN = Author("console", "kristin", "Kristin Antin")
BRITTANY = Author("console", "brittany", "Brittany Landorf")
JESSICA = Author("console", "jessica", "Jessica Okafor")


async def test_counts_follow_hidden_posts_and_each_readers_mark(database, tmp_path):
    db = open_database(database(tmp_path / "db.sqlite3"))
    await db.open()
    store = Store(db)
    try:
        allies = await store.create_topic("allies", "Engaging allies", "", KRISTIN, START, [])
        quiet = await store.create_topic("allies", "A quiet topic", "", KRISTIN, START, [])
        posts = {}
        for n in range(2, 22):  # #2..#21, Brittany writes #3 and #6 (and so has read to #6)
            author = BRITTANY if n in (3, 6) else JESSICA
            post_id, number = await store.add_post(
                topic_id=allies, author=author, text=f"Example {n}", subject=None,
                parent_id=None, prompt_id=None, created_at=START + timedelta(minutes=n),
                origin=FORUM, message_id=f"m{n}", targets=[])
            posts[number] = post_id
        for number in (4, 9, 18):  # a moderator hides three, then shows #9 again
            assert await store.set_hidden(posts[number], True, "Kristin", START, [])
        assert await store.set_hidden(posts[9], False, None, START, [])
        assert not await store.set_hidden(posts[4], True, "Kristin", START, []), "already hidden"

        shown = [p for p in await store.posts(allies)]
        assert [p.number for p in shown if p.number in (4, 9, 18)] == [9]
        assert (await store.topic_counts())[allies] == (len(shown), 21)
        assert (await store.topic_counts()).get(quiet, (1, 1))[0] == 1, "its opening post"
        brittany = await store.participant_id("console", "brittany")
        assert brittany is not None
        for mark in (None, 8, 10, 11, 17, 20, 21):  # the mark in the first half, then later
            if mark is not None:
                await store.mark_read(brittany, allies, mark)
            stats = await store.stats(allies, brittany)
            upto = await store.read_marker(brittany, allies)
            assert upto == (mark or 6)
            want = [p for p in shown if p.number > upto and p.author_id != "brittany"]
            assert (stats.posts, stats.new) == (len(shown), len(want)), mark
            nobody = await store.stats(allies, None)  # never wrote, never read: all new
            assert (nobody.posts, nobody.new) == (len(shown), len(shown))
            # Private /status reads every topic of the person at once, the same counts.
            assert await store.reader_stats([allies, quiet], "console", "brittany") == {
                allies: stats, quiet: await store.stats(quiet, brittany)}
            assert await store.reader_stats([allies], "console", "nobody") == {allies: nobody}
    finally:
        await db.close()


async def test_counts_hold_in_a_topic_missing_a_number(database, tmp_path):
    """Posts are numbered without gaps, and the "new" count uses it; a row deleted by hand
    (no command deletes a post) leaves a gap, and the counts must still be right."""
    db = open_database(database(tmp_path / "db.sqlite3"))
    await db.open()
    store = Store(db)
    try:
        allies = await store.create_topic("allies", "Engaging allies", "", KRISTIN, START, [])
        posts = {}
        for n in range(2, 22):
            post_id, number = await store.add_post(
                topic_id=allies, author=BRITTANY if n == 3 else JESSICA, text=f"Example {n}",
                subject=None, parent_id=None, prompt_id=None, created_at=START + timedelta(minutes=n),
                origin=FORUM, message_id=f"m{n}", targets=[])
            posts[number] = post_id
        assert await store.set_hidden(posts[9], True, "Kristin", START, [])
        for table in ("message_map", "posts"):
            await db.write_one(f"DELETE FROM {table} WHERE {'id' if table == 'posts' else 'post_id'} = ?",
                               (posts[12],))
        shown = await store.posts(allies)
        assert [p.number for p in shown if p.number in (9, 12)] == []
        brittany = await store.participant_id("console", "brittany")
        assert brittany is not None
        for mark in (None, 5, 11, 12, 15, 21):
            if mark is not None:
                await store.mark_read(brittany, allies, mark)
            upto = mark or 3
            want = [p for p in shown if p.number > upto and p.author_id != "brittany"]
            stats = (await store.reader_stats([allies], "console", "brittany"))[allies]
            assert (stats.posts, stats.new, stats.read_upto) == (len(shown), len(want), upto), mark
            assert await store.stats(allies, brittany) == stats
    finally:
        await db.close()
