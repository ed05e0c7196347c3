"""The store: SQLite's migrations and pragmas; on both stores, the outbox across restarts and
relay failures."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core import errors
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.models import DeliveryState
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.store import open_database
from bridgebot.store.db import Database
from bridgebot.store.migrations import LATEST, SchemaTooNew

from .auxil.postgres import STORES
from .auxil.world import FACILITATOR, FORUM, LOUNGE, person

on_both_stores = pytest.mark.parametrize("store", STORES, indirect=True)

BRIDGE = Bridge("allies", (FORUM, LOUNGE))


@pytest.mark.sqlite_only("reads the SQLite file's PRAGMAs (PostgreSQL's migration: "
                         "tests/test_postgres_store.py)")
async def test_a_fresh_file_migrates_to_latest_and_rerunning_is_a_no_op(db_path):
    db = Database(db_path)
    await db.open()
    await db.close()
    db = Database(db_path)
    await db.open()
    rows = await db.reader.execute_fetchall("SELECT version FROM schema_version")
    pragmas = [
        (await db.reader.execute_fetchall(f"PRAGMA {name}"))[0][0]
        for name in ("journal_mode", "foreign_keys", "busy_timeout")
    ]
    await db.close()
    assert [r[0] for r in rows] == [LATEST]
    assert pragmas == ["wal", 1, 5000]


@pytest.mark.sqlite_only("writes the newer version with sqlite3 (PostgreSQL's: tests/test_postgres_store.py)")
async def test_a_database_from_a_newer_bridgebot_is_refused(db_path):
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (?)", (LATEST + 1,))
    with pytest.raises(SchemaTooNew, match="run a newer bridgebot"):
        await Database(db_path).open()


async def test_the_message_map_itself_refuses_a_duplicate(store, db_setting):
    db = open_database(db_setting)
    await db.open()
    try:
        async with db.tx() as tx:
            await tx.execute("INSERT INTO topics (bridge, title, introduction, status, opened_by, "
                             "opened_at) VALUES ('b', 't', '', 'open', 'k', '2026-01-01')")
            insert = ("INSERT INTO message_map (platform, chat_id, message_id, topic_id, mirrored) "
                      "VALUES ('telegram', '-100', '5', 1, 0)")
            await tx.execute(insert)
        refused = sqlite3.IntegrityError if store == "sqlite" else asyncpg.UniqueViolationError
        with pytest.raises(refused):
            async with db.tx() as tx:
                await tx.execute(insert)
        assert len(await db.fetch("SELECT id FROM message_map")) == 1
    finally:
        await db.close()


@on_both_stores
async def test_pending_deliveries_survive_a_restart_and_arrive_once(database, db_path):
    # First run: the lounge's platform is down (no adapter), so its deliveries wait.
    forum_only = Runtime(database(db_path), [BRIDGE], facilitators=[("console", FACILITATOR.user_id)])
    await forum_only.start()
    await run_command(forum_only.core, CommandContext(FACILITATOR, FORUM), "newtopic",
                      "Allies\nIntro")
    await run_command(forum_only.core, CommandContext(FACILITATOR, FORUM), "prompt", "Examples?")
    pending = await forum_only.store.outbox([DeliveryState.PENDING])
    assert len(pending) == 4
    await forum_only.stop()

    console = ConsoleAdapter()
    again = Runtime(database(db_path), [BRIDGE])
    again.add_adapter(console)
    await again.start()
    await again.drain()
    assert [s.text for s in console.visible("lounge")] == ["Topic #1: Allies\nIntro",
                                                           "Question 1: Examples?"]
    assert [s.text for s in console.visible("forum")] == ["Topic #1: Allies\nIntro",
                                                          "Question 1: Examples?"]
    await again.stop()
    # A third start delivers nothing more.
    third_console = ConsoleAdapter()
    third = Runtime(database(db_path), [BRIDGE])
    third.add_adapter(third_console)
    await third.start()
    await third.drain()
    await third.stop()
    assert third_console.rooms == {}


@on_both_stores
async def test_a_transient_failure_is_retried_and_a_permanent_one_buried(runtime, console):
    await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Allies")
    console.fail_next(errors.TransientError("502 Bad Gateway"))
    await runtime.drain()
    assert len(console.visible("forum")) == 1 and len(console.visible("lounge")) == 1
    console.fail_next(errors.PermanentError("chat not found"))
    await console.say("forum", person("Brittany"), "An example")
    await runtime.drain()
    dead = await runtime.store.outbox([DeliveryState.DEAD])
    assert [(d.target.chat_id, d.last_error) for d in dead] == [("lounge", "chat not found")]
    # The dead delivery does not block the next one to the same room.
    await console.say("forum", person("Jessica"), "Another example")
    await runtime.drain()
    assert console.visible("lounge")[-1].text == "#3 Another example"
    status = await runtime.core.status(FACILITATOR, FORUM)
    assert "1 delivery failed for good" in status


@on_both_stores
async def test_a_rate_limit_waits_the_time_the_platform_asked(runtime, console):
    await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Allies")
    console.fail_next(errors.RateLimited(0.2))
    loop = __import__("asyncio").get_running_loop()
    started = loop.time()
    await runtime.drain()
    assert loop.time() - started >= 0.2
    assert len(console.visible("forum")) == len(console.visible("lounge")) == 1
