"""Placing the posts of one gathered batch reads each topic once (Store.topic_placing), and
still sees a lock: one made in this process at once, one committed by another process
from the next batch on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridgebot.core.models import Author, ChannelRef, Topic, TopicStatus
from bridgebot.store import open_database
from bridgebot.store.repo import Store

from .auxil.postgres import STORES

pytestmark = pytest.mark.parametrize("store", STORES, indirect=True)

START = datetime(2027, 3, 22, 14, 0, tzinfo=UTC)
FORUM = ChannelRef("console", "forum")
KRISTIN = Author("console", "kristin", "Kristin Antin")


class CountedStore(Store):
    """The store, its topic reads counted."""

    reads = 0

    async def topic(self, topic_id: int) -> Topic | None:
        self.reads += 1
        return await super().topic(topic_id)


async def test_a_batch_reads_its_topic_once_and_sees_a_lock_made_here_at_once(database,
                                                                               tmp_path: Path):
    db = open_database(database(tmp_path / "allies.sqlite3"))
    await db.open()
    try:
        store = CountedStore(db)
        topic = await store.create_topic("allies", "Allies", "", KRISTIN, START, [FORUM])
        with store.together():
            placed = [await store.topic_placing(topic) for _ in range(50)]
            assert store.reads == 1, "fifty posts of one batch, one read"
            assert all(t is not None and not t.is_locked for t in placed)
            await store.set_status(topic, TopicStatus.LOCKED, "Kristin", None, START, [FORUM])
            locked = await store.topic_placing(topic)
            assert locked is not None and locked.is_locked, "the next post sees the lock"
        before = store.reads
        for _ in range(3):  # outside a batch (a webhook's update): read every time
            await store.topic_placing(topic)
        assert store.reads == before + 3
    finally:
        await db.close()


async def test_a_lock_committed_by_another_process_is_seen_by_the_next_batch(database,
                                                                             tmp_path: Path):
    path = database(tmp_path / "allies.sqlite3")
    db, other_db = open_database(path), open_database(path)
    await db.open()
    await other_db.open()
    try:
        store, other = Store(db), Store(other_db)
        topic = await store.create_topic("allies", "Allies", "", KRISTIN, START, [FORUM])
        with store.together():
            first = await store.topic_placing(topic)
            assert first is not None and not first.is_locked
        await other.set_status(topic, TopicStatus.LOCKED, "Kristin", None, START, [FORUM])
        with store.together():
            after = await store.topic_placing(topic)
            assert after is not None and after.is_locked
    finally:
        await db.close()
        await other_db.close()
