"""The guard that keeps tests from running on SQLite alone without saying so.

Every test that uses a database runs on both stores (it takes the ``store`` fixture, or a
fixture built on it: ``build``, ``database``, ``db_setting``) unless it is marked
``sqlite_only("why")``. A test that opens a SQLite database of its own without either would
pass on SQLite and never run on PostgreSQL, and nothing would tell: this guard fails it.

It looks twice, so that neither an in-process database nor a ``bridgebot`` command in a
subprocess slips through:

- in the test's process, :meth:`bridgebot.store.db.Database.open` is watched;
- after the test, its ``tmp_path`` is searched for SQLite files (the first 16 bytes of every
  SQLite database file are ``SQLite format 3\\0``), which is what a command run by the test
  leaves there.

A ``[postgresql]`` run is watched both ways too: a test that takes ``store`` but opens a
SQLite file anyway runs on SQLite twice. An in-memory SQLite database (``:memory:``, a
reference schema, say) is no store and passes. Not seen: a file a command writes outside
``tmp_path``, or one written with the ``sqlite3`` module outside it.

The guard's own tests: tests/test_store_guard.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridgebot.store import db as sqlite

SQLITE_HEADER = b"SQLite format 3\x00"

HOW = ("take the `store` fixture (or `build`, `database`, `db_setting`) so that it runs on "
       "SQLite and PostgreSQL, or mark it @pytest.mark.sqlite_only(\"why\") if what it checks "
       "exists only on SQLite")


def sqlite_files(root: Path) -> list[Path]:
    """The SQLite database files under ``root`` (by their header, whatever their name)."""
    found = []
    for path in root.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_size >= 100:
                with path.open("rb") as f:
                    if f.read(16) == SQLITE_HEADER:
                        found.append(path)
        except OSError:  # removed while looking, or unreadable: not the test's database
            continue
    return sorted(found)


@pytest.fixture(autouse=True)
def sqlite_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test that opens a SQLite database while it runs on no store (it has no
    ``store`` parameter) or on PostgreSQL, unless it is marked ``sqlite_only``."""
    if request.node.get_closest_marker("sqlite_only") is not None:
        yield
        return
    opened: list[str] = []
    original = sqlite.Database.open

    async def watched_open(self: sqlite.Database, *args: Any, **kwargs: Any) -> None:
        if str(self.path) != ":memory:":
            opened.append(str(self.path))
        await original(self, *args, **kwargs)

    monkeypatch.setattr(sqlite.Database, "open", watched_open)
    yield
    funcargs = getattr(request.node, "funcargs", {})
    store = funcargs.get("store")
    if store == "sqlite":
        return
    where = "on PostgreSQL" if store == "postgresql" else "without the `store` fixture"
    if opened:
        pytest.fail(f"{request.node.nodeid} opened the SQLite database {opened[0]} {where}: {HOW}",
                    pytrace=False)
    tmp_path = funcargs.get("tmp_path")
    left = sqlite_files(tmp_path) if isinstance(tmp_path, Path) else []
    if left:
        pytest.fail(f"{request.node.nodeid} left the SQLite database {left[0]} in its tmp_path "
                    f"{where} (a command it ran used SQLite): {HOW}", pytrace=False)
