"""The PostgreSQL store: its schema's version, a newer one refused, another program's
database left alone, and post numbers that stay gap-free and unique while several
workers (each its own pool of connections, as separate processes would be) write to the
same topics at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from bridgebot.core.models import Author, ChannelRef
from bridgebot.settings import Settings
from bridgebot.store import open_database
from bridgebot.store.db import Database, DatabaseUnusable
from bridgebot.store.migrations import LATEST, SchemaTooNew
from bridgebot.store.postgres import PgDatabase, numbered, redacted
from bridgebot.store.repo import Store

from .auxil.postgres import PostgresServer
from .auxil.silent import silent_server

START = datetime(2027, 3, 22, 14, 0, tzinfo=UTC)
FORUM = ChannelRef("console", "forum")
LOUNGE = ChannelRef("console", "lounge")
KRISTIN = Author("console", "kristin", "Kristin Antin")


def test_the_database_setting_picks_the_store():
    assert isinstance(open_database("postgresql://bridgebot@db.example/bridgebot"), PgDatabase)
    settings = Settings(database="sqlite:///data/allies.sqlite3")
    assert str(settings.database) == "data/allies.sqlite3"
    assert Settings(database="postgresql://u@h/db").database == "postgresql://u@h/db"
    assert redacted("postgresql://bot:s3cret@db:5432/bb") == "postgresql://bot:***@db:5432/bb"


def test_a_password_given_as_a_parameter_is_blanked_too():
    """asyncpg (as libpq) takes the password from the address's parameters as well: it is
    never shown, and check-config's output hides it wherever it appears."""
    from bridgebot.store.postgres import password

    address = "postgresql://bot@db/bb?sslmode=require&password=s%40cr3t&sslpassword=k3y#x"
    assert redacted(address) == "postgresql://bot@db/bb?sslmode=require&password=***&sslpassword=***#x"
    assert password(address) == "s%40cr3t"
    assert password("postgresql://bot:s3cret@db/bb?password=other") == "s3cret"
    assert password("postgresql://bot@db/bb?sslmode=require") is None
    assert redacted("postgresql://bot@db/bb?sslmode=require") == "postgresql://bot@db/bb?sslmode=require"


def test_placeholders_are_numbered_outside_quoted_text():
    assert numbered("SELECT ? WHERE a = '?' AND b IN (?, ?)") == "SELECT $1 WHERE a = '?' AND b IN ($2, $3)"


async def test_a_fresh_database_has_sqlites_version_tables_and_columns(postgres_server: PostgresServer):
    url = postgres_server.fresh()
    for _ in range(2):  # the second open finds it done
        db = PgDatabase(url)
        await db.open()
        rows = await db.fetch("SELECT version FROM schema_version")
        columns = await db.fetch(
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()")
        await db.close()
        assert [r[0] for r in rows] == [LATEST]
    # SQLite's schema, the reference: in memory (no file; the writer's connection holds it).
    lite = Database(":memory:")
    await lite.open()
    async with lite.tx() as conn:
        tables = [r[0] for r in await conn.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")]
        expected = {(t, c[1]) for t in tables for c in await conn.fetch(f"PRAGMA table_info({t})")}
    await lite.close()
    # PostgreSQL alone has delivery_leases: which worker sends to which chat (not data).
    assert {(r[0], r[1]) for r in columns if r[0] != "delivery_leases"} == expected
    # Timestamps are text compared in time order, whatever the server's locale.
    assert {r[0] for r in columns if r[1].endswith("_at") and r[2] != "C"} == set()


async def test_workers_starting_together_migrate_once(postgres_server: PostgresServer):
    url = postgres_server.fresh()
    dbs = [PgDatabase(url) for _ in range(3)]
    await asyncio.gather(*(db.open() for db in dbs))
    rows = await dbs[0].fetch("SELECT version FROM schema_version")
    await asyncio.gather(*(db.close() for db in dbs))
    assert [r[0] for r in rows] == [LATEST]


async def test_a_database_from_a_newer_bridgebot_is_refused(postgres_server: PostgresServer):
    url = postgres_server.fresh()
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    await conn.execute("INSERT INTO schema_version VALUES ($1)", LATEST + 1)
    await conn.close()
    with pytest.raises(SchemaTooNew, match="run a newer bridgebot"):
        await PgDatabase(url).open()


async def test_another_programs_database_is_left_alone(postgres_server: PostgresServer):
    url = postgres_server.fresh()
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE TABLE invoices (id INTEGER)")
    await conn.close()
    with pytest.raises(DatabaseUnusable, match="belongs to another program"):
        await PgDatabase(url).open()
    conn = await asyncpg.connect(url)
    tables = await conn.fetch("SELECT table_name FROM information_schema.tables "
                              "WHERE table_schema = current_schema() ORDER BY table_name")
    await conn.close()
    assert [t[0] for t in tables] == ["invoices"]


async def test_an_unreachable_server_is_one_line_without_the_password():
    db = PgDatabase("postgresql://bot:s3cret@127.0.0.1:1/bridgebot")
    with pytest.raises(DatabaseUnusable) as refused:
        await db.open()
    assert "s3cret" not in str(refused.value) and "cannot be used" in str(refused.value)


async def test_a_server_that_never_answers_is_one_line_saying_so(monkeypatch: pytest.MonkeyPatch):
    """A proxy or firewall that accepts the connection and says nothing: asyncpg's
    TimeoutError has no text, and the line ended at "cannot be used: "."""
    from bridgebot.store import postgres

    monkeypatch.setattr(postgres, "CONNECT_SECONDS", 0.5)
    async with silent_server() as port:
        with pytest.raises(DatabaseUnusable) as refused:
            await PgDatabase(f"postgresql://bot:s3cret@127.0.0.1:{port}/bridgebot").open()
    assert str(refused.value) == (
        f"the database postgresql://bot:***@127.0.0.1:{port}/bridgebot cannot be used: no answer "
        "within 0.5 s (check the host and port in the address, and the network)")


async def test_four_workers_writing_to_the_same_topics_number_posts_densely(
        postgres_server: PostgresServer):
    url = postgres_server.fresh()
    workers = [PgDatabase(url, max_connections=4) for _ in range(4)]
    await asyncio.gather(*(db.open() for db in workers))
    try:
        stores = [Store(db) for db in workers]
        topics = [await stores[0].create_topic("allies", f"Topic {i}", "", KRISTIN, START,
                                               [FORUM, LOUNGE]) for i in range(3)]

        async def write(worker: int, n: int) -> tuple[int, int]:
            topic = topics[n % len(topics)]
            return await stores[worker].add_post(
                topic_id=topic, author=Author("telegram", str(n % 5), f"Person {n % 5}"),
                text=f"post {worker}-{n}", subject=None, parent_id=None, prompt_id=None,
                created_at=START + timedelta(seconds=n), origin=ChannelRef("telegram", "-100"),
                message_id=f"{worker}-{n}", targets=[LOUNGE])

        # Each worker a burst of its own, all at once; and prompts added meanwhile.
        written, prompts = await asyncio.gather(
            asyncio.gather(*(write(w, n) for w in range(4) for n in range(40))),
            asyncio.gather(*(stores[w].add_prompt(topics[0], f"Q{w}", START, [FORUM])
                             for w in range(4))),
        )
        for topic in topics:
            numbers = sorted(p.number for p in await stores[0].posts(topic))
            assert numbers == list(range(1, len(numbers) + 1)), "gap-free, unique, #1 the opening"
        assert len({post_id for post_id, _ in written}) == 160
        positions = sorted(p.position for p in await stores[0].prompts(topics[0]))
        assert positions == [1, 2, 3, 4] and len(set(prompts)) == 4
        pseudonyms = await workers[0].fetch(
            "SELECT topic_id, number FROM pseudonyms ORDER BY topic_id, number")
        for topic in topics:
            mine = [r[1] for r in pseudonyms if r[0] == topic]
            assert mine == list(range(1, len(mine) + 1))
        # Every post's deliveries are queued in its topic's order (outbox id order).
        rows = await workers[0].fetch(
            "SELECT o.topic_id, p.number FROM outbox o JOIN posts p ON p.id = o.post_id "
            "WHERE o.action = 'post' ORDER BY o.id")
        for topic in topics:
            order = [r[1] for r in rows if r[0] == topic]
            assert order == sorted(order)
    finally:
        await asyncio.gather(*(db.close() for db in workers))


async def test_the_lookup_of_a_batchs_duplicates_holds_its_topics_until_the_commit(
        postgres_server: PostgresServer):
    db = PgDatabase(postgres_server.fresh())
    await db.open()
    try:
        store = Store(db)
        allies = await store.create_topic("allies", "Allies", "", KRISTIN, START, [FORUM])
        other = await store.create_topic("allies", "Other", "", KRISTIN, START, [FORUM])
        async with db.tx() as tx:
            rows = await tx.dialect.lock_topics_reading(
                tx, [allies], "SELECT title FROM topics WHERE id = ?", (other,))
            assert [r[0] for r in rows] == ["Other"]
            async with db.pool.acquire() as elsewhere:
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await elsewhere.fetch("SELECT id FROM topics WHERE id = $1 FOR UPDATE NOWAIT",
                                          allies)
                await elsewhere.fetch("SELECT id FROM topics WHERE id = $1 FOR UPDATE NOWAIT", other)
    finally:
        await db.close()


async def test_the_same_message_from_two_workers_is_recorded_once(postgres_server: PostgresServer):
    from bridgebot.core.ports import DuplicateMessage

    url = postgres_server.fresh()
    workers = [PgDatabase(url) for _ in range(2)]
    await asyncio.gather(*(db.open() for db in workers))
    try:
        stores = [Store(db) for db in workers]
        topic = await stores[0].create_topic("allies", "Allies", "", KRISTIN, START, [FORUM])
        outcomes = await asyncio.gather(*(s.add_post(
            topic_id=topic, author=KRISTIN, text="once", subject=None, parent_id=None,
            prompt_id=None, created_at=START, origin=FORUM, message_id="77", targets=[LOUNGE],
        ) for s in stores), return_exceptions=True)
        assert sorted(type(o).__name__ for o in outcomes) == ["DuplicateMessage", "tuple"]
        assert any(isinstance(o, DuplicateMessage) for o in outcomes)
        assert [p.number for p in await stores[1].posts(topic)] == [1, 2]
    finally:
        await asyncio.gather(*(db.close() for db in workers))
