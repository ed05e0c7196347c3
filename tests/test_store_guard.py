"""The guard of tests/auxil/store_guard.py fails a test that opens a SQLite database without
running on both stores or saying why not, and lets the others pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from .auxil.store_guard import sqlite_files

pytest_plugins = ["pytester"]

CONFTEST = '''
import pytest
from tests.auxil.store_guard import sqlite_guard  # the guard under test

def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only(reason): on SQLite alone")

@pytest.fixture(params=["sqlite", "postgresql"])
def store(request):
    return request.param
'''

TESTS = '''
import asyncio
import sqlite3

import pytest
from bridgebot.store.db import Database

def open_sqlite(path):
    async def go():
        db = Database(path)
        await db.open()
        await db.close()
    asyncio.run(go())

def test_opens_sqlite_unmarked(tmp_path):
    open_sqlite(tmp_path / "bot.db")

@pytest.mark.sqlite_only("checks the SQLite file")
def test_opens_sqlite_marked(tmp_path):
    open_sqlite(tmp_path / "bot.db")

def test_leaves_a_sqlite_file_as_a_command_would(tmp_path):
    with sqlite3.connect(tmp_path / "written-by-a-command") as conn:
        conn.execute("CREATE TABLE t (x)")

def test_opens_sqlite_in_memory(tmp_path):
    open_sqlite(":memory:")

def test_opens_sqlite_whatever_the_store(store, tmp_path):
    open_sqlite(tmp_path / "bot.sqlite3")

def test_opens_no_database(tmp_path):
    (tmp_path / "notes.txt").write_text("SQLite format 3 is not in this file's header")
'''


@pytest.mark.sqlite_only("opens SQLite databases on purpose, in the tests it runs, to see the "
                         "guard fail them")
def test_the_guard_fails_exactly_the_tests_that_open_sqlite_silently(pytester: pytest.Pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_guarded=TESTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:asyncio",
                                         "-rA")
    outcomes = {line.split(" ", 1)[1].split(" ")[0]: line.split(" ", 1)[0]
                for line in result.outlines if line.startswith(("PASSED ", "ERROR "))}
    assert outcomes == {
        "test_guarded.py::test_opens_sqlite_unmarked": "ERROR",
        "test_guarded.py::test_opens_sqlite_marked": "PASSED",
        "test_guarded.py::test_leaves_a_sqlite_file_as_a_command_would": "ERROR",
        "test_guarded.py::test_opens_sqlite_in_memory": "PASSED",
        "test_guarded.py::test_opens_sqlite_whatever_the_store[sqlite]": "PASSED",
        "test_guarded.py::test_opens_sqlite_whatever_the_store[postgresql]": "ERROR",
        "test_guarded.py::test_opens_no_database": "PASSED",
    }, result.stdout.str()
    text = result.stdout.str()
    assert "opened the SQLite database" in text and "without the `store` fixture" in text
    assert "on PostgreSQL" in text and "written-by-a-command" in text
    assert '@pytest.mark.sqlite_only("why")' in text


def test_sqlite_files_are_found_by_their_header_not_their_name(tmp_path: Path):
    import sqlite3

    (tmp_path / "deep" / "er").mkdir(parents=True)
    with sqlite3.connect(tmp_path / "deep" / "er" / "anything.bin") as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    (tmp_path / "empty.sqlite3").write_bytes(b"")
    (tmp_path / "text.db").write_text("SQLite format 3 " * 10)
    assert sqlite_files(tmp_path) == [tmp_path / "deep" / "er" / "anything.bin"]
    (tmp_path / "deep" / "er" / "anything.bin").unlink()  # this test's own guard looks too
