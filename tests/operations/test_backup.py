"""Backups an operator can trust: consistent while the bot writes, restorable, refused when unsafe."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import sys
import tarfile
from pathlib import Path

import pytest

from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.store.backup import (
    BACKUPS_KEPT,
    BackupError,
    DatabaseInUse,
    backup,
    backups_dir,
    files_dir,
    restore,
)
from bridgebot.store.db import Database
from bridgebot.store.migrations import LATEST, MIGRATIONS
from bridgebot.store.repo import Store

from ..auxil.world import FACILITATOR, FORUM, LOUNGE, person

# `bridgebot backup` and `restore` are SQLite's: they copy, check and replace its file (and
# the files beside it); PostgreSQL's backups are the server's (pg_dump, pg_restore).
pytestmark = pytest.mark.sqlite_only("`bridgebot backup`/`restore` and the pre-upgrade backup "
                                     "work on the SQLite file; PostgreSQL's are pg_dump's")

ROOT = Path(__file__).resolve().parents[2]
POSTS = 200


async def bridgebot_async(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """The real command in its own process (as `docker compose exec` runs it), without
    blocking the loop the bot under test runs on."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    clean.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridgebot.cli", *args, cwd=cwd, env=clean,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.timeout(120)
@pytest.mark.sqlite_only("`bridgebot backup` copies the SQLite file; PostgreSQL's backups are pg_dump's")
async def test_a_backup_taken_during_a_200_post_burst_restores_every_committed_post(
        runtime: Runtime, console, db_path: Path, tmp_path: Path):
    await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Burst")
    await runtime.drain()
    (files_dir(db_path) / "ab").mkdir(parents=True)
    (files_dir(db_path) / "ab" / "abcdef").write_bytes(b"a stored photo")
    acknowledged: list[str] = []
    forty = asyncio.Event()

    async def burst() -> None:
        for i in range(POSTS):
            room = "forum" if i % 3 else "lounge"
            _, outcome = await console.say(room, person(f"P{i % 9}"), f"burst post {i}")
            assert outcome.post is not None
            acknowledged.append(f"burst post {i}")
            if len(acknowledged) == 40:
                forty.set()
            if i % 10 == 9:
                await asyncio.sleep(0.02)

    writer = asyncio.create_task(burst())
    await forty.wait()
    committed_before = list(acknowledged)
    archive = tmp_path / "backups" / "during-burst.tar.gz"
    code, out, err = await bridgebot_async("backup", str(archive), cwd=tmp_path,
                                           env={"BRIDGEBOT_DATABASE": str(db_path)})
    during = len(acknowledged) - len(committed_before)
    await writer
    assert code == 0, err
    assert "Backed up" in out and str(archive) in out
    assert during > 0, "the bot went on writing while the backup ran"

    restored = tmp_path / "restored" / "bridgebot.sqlite3"
    summary = restore(archive, restored, LATEST)
    assert summary.files == 1
    assert (files_dir(restored) / "ab" / "abcdef").read_bytes() == b"a stored photo"
    texts = {r[0] for r in rows(restored, "SELECT text FROM posts WHERE number > 1")}
    assert set(committed_before) <= texts, "every post acknowledged before the backup is in it"
    assert texts <= set(acknowledged)
    # One committed state: post numbers have no gap, and each post has the message that carried it.
    numbers = [r[0] for r in rows(restored, "SELECT number FROM posts ORDER BY number")]
    assert numbers == list(range(1, len(numbers) + 1))
    unmapped = rows(restored, "SELECT id FROM posts WHERE number > 1 AND id NOT IN "
                              "(SELECT post_id FROM message_map WHERE mirrored = 0 AND post_id IS NOT NULL)")
    assert unmapped == []
    assert rows(restored, "PRAGMA integrity_check") == [("ok",)]
    assert rows(restored, "PRAGMA foreign_key_check") == []
    db = Database(restored)
    await db.open()  # the restored file opens as a bridgebot database, without migrating
    try:
        store = Store(db)
        assert len(await store.posts(1)) == len(texts) + 1  # and the opening post
        assert db.migration_backup is None
    finally:
        await db.close()


@pytest.mark.sqlite_only("`bridgebot restore` replaces the SQLite file; PostgreSQL's is pg_restore")
async def test_restore_is_refused_while_a_bot_has_the_database_open(runtime: Runtime, db_path: Path,
                                                                     tmp_path: Path):
    await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Kept")
    archive = tmp_path / "b.tar.gz"
    await asyncio.to_thread(backup, db_path, archive)
    code, _, err = await bridgebot_async("restore", str(archive), cwd=tmp_path,
                                         env={"BRIDGEBOT_DATABASE": str(db_path)})
    assert code == 1
    assert err.startswith("bridgebot: restore refused:") and "in use by a running bridgebot" in err
    assert len(err.strip().splitlines()) == 1
    assert [t.title for t in await runtime.store.topics()] == ["Kept"]


async def test_nothing_opens_the_database_while_a_restore_holds_it(db_path: Path):
    from bridgebot.store.backup import DatabaseLock

    lock = DatabaseLock(db_path)
    lock.acquire(exclusive=True)
    try:
        with pytest.raises(DatabaseInUse, match="being restored"):
            await Database(db_path).open()
    finally:
        lock.release()
    db = Database(db_path)
    await db.open()
    await db.close()


async def test_restore_replaces_the_data_and_keeps_what_it_replaced(tmp_path: Path):
    live = tmp_path / "data" / "bridgebot.sqlite3"

    async def open_topic(title: str) -> None:
        runtime = Runtime(live, [Bridge("allies", (FORUM, LOUNGE))],
                          facilitators=[("console", FACILITATOR.user_id)])
        await runtime.open()
        await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", title)
        await runtime.db.close()

    await open_topic("Before the backup")
    archive = tmp_path / "b.tar.gz"
    backup(live, archive)
    await open_topic("After the backup")

    code, out, err = await bridgebot_async("restore", str(archive), cwd=tmp_path,
                                           env={"BRIDGEBOT_DATABASE": str(live)})
    assert code == 0, err
    assert "Restored" in out and "restore it to undo" in out
    assert [r[0] for r in rows(live, "SELECT title FROM topics")] == ["Before the backup"]
    previous = [p for p in backups_dir(live).iterdir() if "before-restore" in p.name]
    assert len(previous) == 1
    assert [r[0] for r in rows(previous[0], "SELECT title FROM topics ORDER BY id")] == [
        "Before the backup", "After the backup"]


@pytest.mark.parametrize(("content", "problem"), [
    (b"not a backup at all", "neither a bridgebot backup nor an SQLite file"),
    (None, "no backup file"),
])
def test_a_wrong_file_is_refused_and_the_database_is_untouched(tmp_path: Path, content, problem):
    live = tmp_path / "bridgebot.sqlite3"
    with sqlite3.connect(live) as conn:
        conn.execute("CREATE TABLE keep (x)")
    source = tmp_path / "wrong.tar.gz"
    if content is not None:
        source.write_bytes(content)
    with pytest.raises(BackupError, match=problem):
        restore(source, live, LATEST)
    assert rows(live, "SELECT name FROM sqlite_master") == [("keep",)]


def test_a_backup_from_a_newer_bridgebot_or_of_another_database_is_refused(tmp_path: Path):
    newer = tmp_path / "newer.sqlite3"
    with sqlite3.connect(newer) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("CREATE TABLE posts (id INTEGER)")
        conn.execute("INSERT INTO schema_version VALUES (?)", (LATEST + 1,))
    with pytest.raises(BackupError, match="restore it with a newer bridgebot"):
        restore(newer, tmp_path / "live.sqlite3", LATEST)
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    with pytest.raises(BackupError, match="not a bridgebot database"):
        restore(other, tmp_path / "live.sqlite3", LATEST)


def test_an_archive_cannot_write_outside_the_files_directory(tmp_path: Path):
    live = tmp_path / "data" / "bridgebot.sqlite3"
    asyncio.run(_fresh(live))
    archive = tmp_path / "evil.tar.gz"
    backup(live, archive)
    with tarfile.open(archive, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    with tarfile.open(archive, "w:gz") as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
        evil = tarfile.TarInfo("files/../../../escaped")
        evil.size = 3
        tar.addfile(evil, io.BytesIO(b"bad"))
    with pytest.raises(tarfile.TarError):
        restore(archive, live, LATEST)
    assert not (tmp_path / "escaped").exists()


async def _fresh(path: Path) -> None:
    db = Database(path)
    await db.open()
    await db.close()


def _make_schema(path: Path, version: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        for statements in MIGRATIONS[:version]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
        conn.execute("INSERT INTO topics (bridge, title, introduction, status, opened_by, opened_at) "
                     "VALUES ('allies', 'Old topic', '', 'open', 'console:kristin', '2026-01-01')")


async def test_an_upgrade_backs_up_first_and_keeps_the_newest_few(tmp_path: Path):
    live = tmp_path / "data" / "bridgebot.sqlite3"
    made: list[Path] = []
    for _ in range(BACKUPS_KEPT + 2):
        live.unlink(missing_ok=True)
        _make_schema(live, LATEST - 1)
        db = Database(live)
        await db.open()
        await db.close()
        assert db.migration_backup is not None
        made.append(db.migration_backup)
        assert rows(live, "SELECT version FROM schema_version") == [(LATEST,)]
    kept = sorted(backups_dir(live).glob("*.sqlite3"))
    assert kept == sorted(made[-BACKUPS_KEPT:])
    assert f".v{LATEST - 1}-before-v{LATEST}." in kept[0].name
    assert rows(kept[-1], "SELECT version FROM schema_version") == [(LATEST - 1,)]
    assert rows(kept[-1], "SELECT title FROM topics") == [("Old topic",)]
    # An up-to-date or new database is not backed up on open.
    db = Database(live)
    await db.open()
    await db.close()
    assert db.migration_backup is None
    # A pre-upgrade backup restores (and the next start upgrades it again).
    restore(kept[-1], live, LATEST)
    assert rows(live, "SELECT version FROM schema_version") == [(LATEST - 1,)]


def test_backup_of_a_missing_database_says_where_it_looked(tmp_path: Path):
    with pytest.raises(BackupError, match="no database at"):
        backup(tmp_path / "nothing.sqlite3", tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()
