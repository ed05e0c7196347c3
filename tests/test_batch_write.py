"""Posts that arrive together are written with the same few statements whether they are one
or forty (each row set passed as arrays, not one statement per row or a VALUES list per
batch size): on PostgreSQL each statement is a round trip, and the batch's round trips
were what held one worker's ingest to a third of SQLite's. Numbers, pseudonyms, read
markers and deliveries come out as they did statement by statement."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridgebot.core.models import Attachment, Author, ChannelRef
from bridgebot.core.ports import DuplicateMessage
from bridgebot.store import open_database
from bridgebot.store.group_commit import PARTICIPANT_RECORDS, PostWriter
from bridgebot.store.repo import Store
from bridgebot.store.sql import Conn, Db, Row

from .auxil.postgres import STORES

pytestmark = pytest.mark.parametrize("store", STORES, indirect=True)

START = datetime(2027, 3, 22, 14, 0, tzinfo=UTC)
FORUM = ChannelRef("console", "forum")
LOUNGE = ChannelRef("console", "lounge")
KRISTIN = Author("console", "kristin", "Kristin Antin")


class CountingConn:
    """A transaction's connection that counts the statements sent through it."""

    def __init__(self, conn: Conn, sent: list[str]) -> None:
        self.conn, self.sent = conn, sent
        self.dialect = conn.dialect

    async def execute(self, sql: str, args: Sequence[object] = ()) -> int:
        self.sent.append(sql)
        return await self.conn.execute(sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self.sent.append(sql)
        await self.conn.executemany(sql, rows)

    async def fetch(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        self.sent.append(sql)
        return await self.conn.fetch(sql, args)

    async def fetchrow(self, sql: str, args: Sequence[object] = ()) -> Row | None:
        self.sent.append(sql)
        return await self.conn.fetchrow(sql, args)


class Counting:
    """The database, its write transactions counted."""

    def __init__(self, db: Db) -> None:
        self.db = db
        self.sent: list[str] = []
        self.transactions = 0

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[Conn]:
        self.transactions += 1
        async with self.db.tx() as conn:
            yield CountingConn(conn, self.sent)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


async def test_forty_replies_arriving_together_cost_the_statements_of_one(database, tmp_path: Path):
    db = open_database(database(tmp_path / "allies.sqlite3"))
    await db.open()
    try:
        store = Store(db)
        topic = await store.create_topic("allies", "Allies", "", KRISTIN, START, [FORUM, LOUNGE])
        counted = Counting(db)
        store.writer = PostWriter(counted)

        def reply(n: int, who: int, **more: Any) -> Any:
            return store.add_post(
                topic_id=topic, author=Author("telegram", str(who), f"Person {who}"),
                text=f"reply {n}", subject=None, parent_id=None, prompt_id=None,
                created_at=START + timedelta(seconds=n), origin=ChannelRef("telegram", "-100"),
                message_id=str(n), targets=[FORUM, LOUNGE], **more)

        await reply(0, 0)
        alone = list(counted.sent)
        counted.sent.clear()
        leaflet = Attachment(name="leaflet.pdf", mime_type="application/pdf", size=10, sha256="ab" * 32)
        together = await asyncio.gather(*(
            reply(n, n % 7, attachments=[leaflet] if n == 5 else (), cursor=("telegram", str(n)))
            for n in range(1, 41)))
        assert store.writer.batches == 2, "the forty share one commit"
        # No statement's text depends on the batch's size (each is prepared once); the
        # forty's attachment and intake cursor are all that is new.
        assert all("attachments" in sql or "cursors" in sql for sql in set(counted.sent) - set(alone))
        if db.dialect.name == "postgresql":
            # duplicates with the topics' locks, people, numbering, posts, and one for the rest
            assert len(alone) == len(counted.sent) == 5

        numbers = sorted(p.number for p in await store.posts(topic))
        assert numbers == list(range(1, 43)), "#1 the opening, then 2..42 gap-free"
        assert [number for _, number in together] == list(range(3, 43))
        pseudonyms = await db.fetch("SELECT number FROM pseudonyms WHERE topic_id = ? ORDER BY number",
                                    (topic,))
        assert [r[0] for r in pseudonyms] == list(range(1, 8)), "seven people, seven pseudonyms"
        markers = await db.fetch(
            "SELECT pa.user_id, r.last_read_number FROM read_markers r "
            "JOIN participants pa ON pa.id = r.participant_id WHERE r.topic_id = ? "
            "AND pa.platform = 'telegram' ORDER BY pa.user_id", (topic,))
        # Reply n is post #n+2: person 0's last is reply 35 (#37), person 5's reply 40 (#42).
        assert {r[0]: r[1] for r in markers} == {str(p): max(
            n + 2 for n in range(41) if n % 7 == p) for p in range(7)}
        deliveries = await db.fetch(
            "SELECT p.number FROM outbox o JOIN posts p ON p.id = o.post_id "
            "WHERE o.action = 'post' AND p.number > 1 ORDER BY o.id")
        assert [r[0] for r in deliveries] == [n for n in range(2, 43) for _ in range(2)]
        files = await db.fetch("SELECT p.number FROM attachments a JOIN posts p ON p.id = a.post_id")
        assert [r[0] for r in files] == [7]
        cursor = await db.fetch("SELECT value FROM cursors WHERE name = 'telegram'")
        assert [r[0] for r in cursor] == ["40"], "the last one handed over"

        # A message already recorded, twice in a batch with a new one: the new one alone
        # is written; both repeats are told they are duplicates.
        outcomes = await asyncio.gather(reply(3, 1), reply(3, 1), reply(99, 1),
                                        return_exceptions=True)
        assert [type(o).__name__ for o in outcomes] == ["DuplicateMessage", "DuplicateMessage", "tuple"]
        assert isinstance(outcomes[0], DuplicateMessage)
        assert outcomes[2][1] == 43  # type: ignore[index]
    finally:
        await db.close()


async def test_a_delivery_about_to_be_sent_is_marked_in_one_statement_of_its_own(
        database, tmp_path: Path):
    db = open_database(database(tmp_path / "allies.sqlite3"))
    await db.open()
    try:
        store = Store(db)
        topic = await store.create_topic("allies", "Allies", "", KRISTIN, START, [FORUM, LOUNGE])
        await store.add_post(
            topic_id=topic, author=Author("telegram", "7", "Brittany"), text="hello",
            subject=None, parent_id=None, prompt_id=None, created_at=START,
            origin=ChannelRef("telegram", "-100"), message_id="1", targets=[FORUM, LOUNGE])
        rows = await db.fetch("SELECT id FROM outbox WHERE action = 'post' ORDER BY id")
        first, second = (r[0] for r in rows)
        counted = Counting(db)
        await Store(counted).mark_attempt([first, second])  # type: ignore[arg-type]
        await Store(counted).mark_attempt([second])  # type: ignore[arg-type]
        attempts = await db.fetch("SELECT id, attempts FROM outbox WHERE action = 'post' ORDER BY id")
        assert [tuple(r) for r in attempts] == [(first, 1), (second, 2)]
        if db.dialect.name == "postgresql":
            # Before every send: no BEGIN and COMMIT around the one statement.
            assert counted.transactions == 0
    finally:
        await db.close()


async def test_a_copy_sent_is_mapped_and_done_in_one_statement_of_its_own(database, tmp_path: Path):
    db = open_database(database(tmp_path / "allies.sqlite3"))
    await db.open()
    try:
        store = Store(db)
        topic = await store.create_topic("allies", "Allies", "", KRISTIN, START, [FORUM, LOUNGE])
        post_id, _ = await store.add_post(
            topic_id=topic, author=Author("telegram", "7", "Brittany"), text="a long one",
            subject=None, parent_id=None, prompt_id=None, created_at=START,
            origin=ChannelRef("telegram", "-100"), message_id="1", targets=[LOUNGE])
        [row] = [r for r in await store.pending_for(LOUNGE, topic, 10) if r.post_id == post_id]
        counted = Counting(db)
        # The post went out as two messages (too long for one).
        await Store(counted).complete(row, ["m1", "m2"], None, START, topic_id=topic,  # type: ignore[arg-type]
                                      prompt_id=None, post_id=post_id)
        assert await store.messages_on(LOUNGE, post_id=post_id) == ["m1", "m2"]
        assert [r for r in await store.pending_for(LOUNGE, topic, 10) if r.post_id == post_id] == []
        if db.dialect.name == "postgresql":
            assert counted.transactions == 0, "no BEGIN and COMMIT around the two writes"
    finally:
        await db.close()


async def test_every_table_that_refers_to_a_participant_keeps_their_row(database, tmp_path: Path):
    """A batch takes back a participant row it made only for posts a lock refused, unless one
    of PARTICIPANT_RECORDS names it: a new table referring to participants belongs there."""
    db = open_database(database(tmp_path / "allies.sqlite3"))
    await db.open()
    try:
        if db.dialect.name == "postgresql":
            # The catalog, not information_schema: its views read every schema's
            # constraints, and the test server holds hundreds of schemas (over 60 s in CI).
            rows = await db.fetch(
                "SELECT t.relname FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
                "WHERE c.contype = 'f' AND c.confrelid = to_regclass('participants')")
        else:
            rows = await db.fetch(
                "SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f "
                "WHERE m.type = 'table' AND f.\"table\" = 'participants'")
        assert sorted({r[0] for r in rows}) == sorted(PARTICIPANT_RECORDS)
    finally:
        await db.close()
