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


# A password whose four words must never show, written as an operator might paste it.
def _bridgebot(command: list[str], env: dict[str, str],
               cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m bridgebot.cli COMMAND`` with ``env``; ``run`` is given a Telegram bot
    (at a closed port) and a bridge, so that it goes as far as opening the database."""
    if command == ["run"]:
        env = env | {"BRIDGEBOT_TELEGRAM__TOKEN": "123456:refused",
                     "BRIDGEBOT_TELEGRAM__BASE_URL": "http://127.0.0.1:9",
                     "BRIDGEBOT_BRIDGES": '[{"name": "allies", "telegram_chats": [-1001234567890]}]'}
    return subprocess.run([sys.executable, "-m", "bridgebot.cli", *command], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


WORDS = ("alpha", "bravo", "charlie", "delta")


@pytest.mark.parametrize(("address", "why"), [
    ("postgresql://bot:alpha-bravo@127.0.0.1:99999/db", "has a port that is not a whole number"),
    ("postgresql://bot:alpha-bravo@127.0.0.1:abc/db", "has a port that is not a whole number"),
    ("postgresql://bot:alpha@bravo:charlie/delta@127.0.0.1:5432/db",
     "has a port that is not a whole number"),
    ("postgresql://bot:alpha@bravo:charlie@127.0.0.1:5432/db", "has an @ after the password's"),
    ("postgres://bot:alpha?bravo@127.0.0.1:5432/db", "has a port that is not a whole number"),
])
@pytest.mark.parametrize("command", [["topics"], ["run"], ["check-config"],
                                     ["restore", "backup.tar.gz"]])
def test_an_address_asyncpg_cannot_read_is_one_line_without_the_password(
        tmp_path, address, why, command):
    """A port out of range or not a number, or a password with an @, /, ? written as it is,
    was a traceback (OverflowError, ValueError) whose last line could quote a piece of the
    password, and the address shown had the rest of it (urlsplit cuts the password at the
    / or ?). Now one line, which says how to write such a password, and nothing is made."""
    (tmp_path / "backup.tar.gz").write_bytes(b"")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")},
           "BRIDGEBOT_DATABASE": address}
    done = _bridgebot(command, env, tmp_path)
    said = done.stdout + done.stderr
    assert "Traceback" not in said, said
    assert not any(word in said for word in WORDS), said
    if command == ["check-config"]:
        assert done.returncode == 1, said
        row = [line for line in done.stdout.splitlines() if line.startswith("database ")]
        assert len(row) == 1 and " FIX " in row[0] and why in row[0], said
        assert "percent-encoded (%40 for @" in row[0], said
    else:
        lines = done.stderr.strip().splitlines()
        assert done.returncode == (1 if command[0] == "restore" else 2), said
        assert len(lines) == 1 and why in lines[0] and "bot:***@" in lines[0], said
        assert "percent-encoded (%40 for @" in lines[0], said
    made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    # run makes its files folder (data/files/tmp) before it opens the database, as it did
    assert [m for m in made if not m.startswith("data")] == ["backup.tar.gz"], made
    assert command == ["run"] or made == ["backup.tar.gz"], made


@pytest.mark.sqlite_only("a folder or a FIFO at the SQLite database's path")
@pytest.mark.parametrize(("make", "says"), [
    (Path.mkdir, "is a folder: set `database` to the database file in it"),
    (os.mkfifo, "is not a regular file (a FIFO, a socket or a device): set `database` to a file"),
])
@pytest.mark.parametrize("command", [["topics"], ["run"]])
def test_a_folder_or_a_fifo_for_a_database_says_what_it_is(tmp_path, make, says, command):
    """SQLite said "disk I/O error", and a lock file was made beside it first."""
    db = tmp_path / "bridgebot.sqlite3"
    make(db)
    done = _bridgebot(command, {**os.environ, "BRIDGEBOT_DATABASE": str(db)}, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"bridgebot: the database {db} {says}"], done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "files") == ["bridgebot.sqlite3"]
