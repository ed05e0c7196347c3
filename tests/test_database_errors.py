"""A database file bridgebot cannot use gives one line and exit 2 at once, never a
traceback or a hang (issue 13): corrupt, truncated, or another program's database.

The damaged files are SQLite's (PostgreSQL's server keeps its files to itself; a server
that is down or refuses is tests/test_postgres_store.py's); the operator commands' settings
are checked on both stores."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bridgebot.store.db import Database, DatabaseUnusable


def corrupt(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def truncated(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
    conn.commit()
    conn.close()
    data = path.read_bytes()
    path.write_bytes(data[:100] + os.urandom(len(data) // 2))


def foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.commit()
    conn.close()


SPOILED_FILE = "spoils a SQLite file (random bytes, cut short, another program's tables)"


@pytest.mark.sqlite_only(SPOILED_FILE)
@pytest.mark.parametrize(("spoil", "command"), [
    (corrupt, ["topics"]), (truncated, ["topics"]), (foreign, ["topics"]),
    (corrupt, ["outbox"]), (truncated, ["export", "1"]), (foreign, ["run"]), (corrupt, ["run"]),
])
def test_an_unusable_database_is_one_line_and_exit_2(tmp_path, spoil, command):
    db = tmp_path / "bridgebot.sqlite3"
    spoil(db)
    before = db.read_bytes()
    env = {**os.environ, "BRIDGEBOT_DATABASE": str(db)}
    if command == ["run"]:  # a platform that would be reached only after the database opened
        env |= {"BRIDGEBOT_TELEGRAM__TOKEN": "123456:refused",
                "BRIDGEBOT_TELEGRAM__BASE_URL": "http://127.0.0.1:9",
                "BRIDGEBOT_BRIDGES": '[{"name": "allies", "telegram_chats": [-1001234567890]}]'}
    done = subprocess.run([sys.executable, "-m", "bridgebot.cli", *command], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bridgebot: "), done.stderr
    assert str(db) in lines[0] and "Traceback" not in done.stderr
    assert db.read_bytes() == before  # nothing written into someone else's file


@pytest.mark.sqlite_only(SPOILED_FILE + "; aiosqlite's connection threads")
async def test_a_failed_open_leaves_no_thread_behind(tmp_path):
    import threading
    db = tmp_path / "bridgebot.sqlite3"
    corrupt(db)
    def connections() -> set[threading.Thread]:  # not the event loop's own executor
        return {t for t in threading.enumerate() if not t.name.startswith("asyncio_")}

    before = connections()
    with pytest.raises(DatabaseUnusable):
        await Database(db).open()
    assert connections() == before


async def test_an_operator_command_with_another_config_never_changes_the_facilitators(
        tmp_path, db_setting, monkeypatch):
    from bridgebot.cli import main
    from bridgebot.runtime import Runtime

    runtime = Runtime(db_setting, [], facilitators=[("telegram", "111")])
    await runtime.open()
    await runtime.db.close()
    monkeypatch.setenv("BRIDGEBOT_DATABASE", str(db_setting))
    monkeypatch.setenv("BRIDGEBOT_FACILITATORS", '["telegram:666"]')
    monkeypatch.chdir(tmp_path)
    for command in (["topics"], ["outbox"]):
        assert await asyncio.to_thread(main, command) == 0
    runtime = Runtime(db_setting, [])
    await runtime.db.open()
    try:
        assert await runtime.store.is_facilitator("telegram", "111")
        assert not await runtime.store.is_facilitator("telegram", "666")
    finally:
        await runtime.db.close()
