"""Months of running, on disk: delivered outbox rows go after their retention, nothing a
discussion needs goes with them (on both stores), and SQLite's file gives the space back."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core import errors
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.housekeeping import OutboxKeeper
from bridgebot.core.ratelimit import PlatformLimits, Window
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.settings import Settings
from bridgebot.store.db import Database

from .auxil.world import FACILITATOR, FORUM, LOUNGE, person

BRIDGE = Bridge("allies", (FORUM, LOUNGE))
RETENTION = timedelta(days=7)


def file_size(path: Path) -> int:
    return path.stat().st_size


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def rows(rt: Runtime, sql: str) -> list[tuple]:
    return [tuple(r) for r in await rt.db.fetch(sql)]


async def discussion(rt: Runtime) -> list[tuple]:
    """What the archive shows: questions, and every post with its number, author and parent."""
    prompts = [(p.position, p.question) for p in await rt.store.prompts(1)]
    posts = [(p.number, p.author_name, p.text, p.parent_id, p.hidden)
             for p in await rt.store.posts(1, include_hidden=True)]
    return [*prompts, *posts]


async def a_week_of_discussion(rt: Runtime, console: ConsoleAdapter, week: int) -> None:
    ctx = CommandContext(FACILITATOR, FORUM)
    if week == 1:
        await run_command(rt.core, ctx, "newtopic", "Allies\nWho helped you?")
        await run_command(rt.core, ctx, "prompt", "Examples?")
        await rt.drain()
    for i in range(6):  # quickly, so the lounge gets some of them combined
        await console.say("forum", person(f"Participant {week}{i}"), f"Week {week}, answer {i}")
    console.fail_next(errors.PermanentError("chat not found"))  # one dead delivery a week
    await console.say("lounge", person("Jessica"), f"Week {week} from the lounge")
    await rt.drain(timeout=30)
    await run_command(rt.core, ctx, "digest", "")
    await rt.drain(timeout=30)


async def test_pruning_keeps_no_delivered_row_older_than_the_retention(store: str,
                                                                      db_setting: Path | str):
    clock = Clock()
    # A budget of one message per 0.2 s makes bursts combine, as on a busy bridge.
    console = ConsoleAdapter(limits=PlatformLimits(per_target=(Window(1, 0.2),), max_length=4000))
    rt = Runtime(db_setting, [BRIDGE], facilitators=[("console", FACILITATOR.user_id)], clock=clock,
                 outbox_retention=RETENTION)
    rt.add_adapter(console)
    await rt.start()
    try:
        await a_week_of_discussion(rt, console, 1)
        clock.now += RETENTION + timedelta(days=3)
        await a_week_of_discussion(rt, console, 2)
        archive_before = await discussion(rt)
        mapped_before = await rows(rt, "SELECT platform, chat_id, message_id, post_id, prompt_id "
                                       "FROM message_map ORDER BY id")
        dead_before = await rows(rt, "SELECT id FROM outbox WHERE state = 'dead'")
        combined = {r[0] for r in await rows(rt, "SELECT delivery_id FROM combined_parts")}
        assert combined, "the burst was combined somewhere"
        newest = (await rows(rt, "SELECT MAX(id) FROM outbox"))[0][0]

        report = await rt.outbox_keeper.prune()

        cutoff = (clock.now - RETENTION).isoformat()
        left = await rows(rt, "SELECT id, action, state, done_at FROM outbox ORDER BY id")
        old_done = [r for r in left if r[2] == "done" and r[3] < cutoff]
        assert report.rows > 0
        assert all(r[1] in ("notice", "lock", "unlock") or r[0] in combined or r[0] == newest
                   for r in old_done), \
            old_done
        assert any(r[2] == "done" and r[3] >= cutoff for r in left), "recent rows stay"
        assert await rows(rt, "SELECT id FROM outbox WHERE state = 'dead'") == dead_before
        assert len(dead_before) == 2
        # Nothing a discussion needs went with them.
        assert await rows(rt, "SELECT platform, chat_id, message_id, post_id, prompt_id "
                              "FROM message_map ORDER BY id") == mapped_before
        assert await discussion(rt) == archive_before
        if store == "sqlite":  # PostgreSQL's space is its autovacuum's
            assert (await rows(rt, "PRAGMA auto_vacuum"))[0][0] == 2
            assert (await rows(rt, "PRAGMA freelist_count"))[0][0] == 0, "space given back"
        # The relay goes on, with ids never handed out twice.
        _, outcome = await console.say("lounge", person("Brittany"), "After the pruning")
        await rt.drain()
        assert console.visible("forum")[-1].text.endswith("After the pruning")
        assert outcome.post is not None
        fresh = await rows(rt, f"SELECT id FROM outbox WHERE post_id = {outcome.post.id}")
        assert fresh and all(r[0] > newest for r in fresh)
        again = await rt.outbox_keeper.prune()
        assert again.rows == 0
    finally:
        await rt.stop()


@pytest.mark.sqlite_only("SQLite's auto_vacuum and free pages (PostgreSQL's autovacuum is the server's)")
async def test_an_older_database_is_switched_to_incremental_vacuum_once(db_path: Path):
    db = Database(db_path)
    await db.open()
    await db.close()
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:  # as bridgebot made it before: no auto_vacuum, and space left free by deletions
        conn.execute("PRAGMA auto_vacuum=NONE")
        conn.execute("VACUUM")
        conn.execute("INSERT INTO cursors VALUES ('telegram.offset', '4242')")
        conn.execute("CREATE TABLE filler (x TEXT)")
        conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 2000,)] * 2000)
        conn.execute("DROP TABLE filler")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 900
    finally:
        conn.close()
    size_before = file_size(db_path)
    db = Database(db_path)
    await db.open()
    try:
        assert (await db.reader.execute_fetchall("PRAGMA auto_vacuum"))[0][0] == 2
        assert (await db.reader.execute_fetchall(
            "SELECT value FROM cursors WHERE name = 'telegram.offset'"))[0][0] == "4242"
        assert file_size(db_path) < size_before / 4
    finally:
        await db.close()


@pytest.mark.sqlite_only("SQLite's auto_vacuum PRAGMA")
async def test_a_new_database_starts_in_incremental_vacuum(db_path: Path):
    db = Database(db_path)
    await db.open()
    try:
        assert (await db.reader.execute_fetchall("PRAGMA auto_vacuum"))[0][0] == 2
    finally:
        await db.close()


def test_the_retention_is_at_least_an_hour():
    assert Settings(outbox_retention_hours=1).outbox_retention_hours == 1
    with pytest.raises(ValidationError, match="outbox_retention_hours"):
        Settings(outbox_retention_hours=0.5)
    with pytest.raises(ValueError, match="at least"):
        OutboxKeeper(None, datetime.now, retention=timedelta(minutes=30))  # type: ignore[arg-type]


async def test_housekeeping_sweeps_the_files_folder_on_start_even_when_pruning_fails():
    """The files folder's leftovers are swept with the outbox's pruning, on start and then
    every hour, and a failed pruning does not keep them."""
    class Refusing:
        async def prune_delivered(self, before: datetime) -> int:
            raise OSError("database is locked")

        async def reclaim_space(self) -> int:
            return 0

    class Folder:
        def __init__(self) -> None:
            self.swept = asyncio.Event()

        async def sweep_leftovers(self) -> int:
            self.swept.set()
            return 2

    folder = Folder()
    keeper = OutboxKeeper(Refusing(), datetime.now, files=folder)
    task = asyncio.create_task(keeper.run())
    try:
        await asyncio.wait_for(folder.swept.wait(), 30)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
