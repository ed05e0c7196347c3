"""Fixtures every suite shares; each builds its world with :func:`tests.auxil.world.allies`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import bridgebot.store
from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core.relay import Backoff
from bridgebot.runtime import Runtime

# FACILITATOR, FORUM, LOUNGE and person live in auxil/world.py; importing them from here
# keeps working.
from .auxil.postgres import STORES, PostgresServer, missing_reason
from .auxil.store_guard import sqlite_guard  # noqa: F401  (autouse: see its module)
from .auxil.world import FACILITATOR, FORUM, LOUNGE, World, allies, person  # noqa: F401

ROOMS = ("forum", "lounge")

Build = Callable[..., Awaitable[World]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): the test checks something only SQLite has (its file, "
        "its WAL, the sqlite3 module); it runs on SQLite alone, and says why")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test whose world has a database runs on each store (``[sqlite]`` and
    ``[postgresql]`` in its name), unless it names its stores itself (``parametrize("store",
    ...)``) or is marked ``sqlite_only("why")``."""
    if "store" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if "store" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else names):
            return
    only = metafunc.definition.get_closest_marker("sqlite_only")
    if only is not None and not (only.args and isinstance(only.args[0], str) and only.args[0]):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: sqlite_only needs a reason")
    metafunc.parametrize("store", ["sqlite"] if only else list(STORES), indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session (see tests/auxil/postgres.py); in CI a machine
    without it fails the tests that need it, elsewhere they are skipped, saying why."""
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL is needed in CI: {reason}")
        pytest.skip(reason)
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """Which store the test's databases are (see :func:`pytest_generate_tests`)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database(store: str, request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Path], Path | str]:
    """``database(path)``: the database a test names by a SQLite path, on the test's store
    (on PostgreSQL, one schema per path, migrated ahead of time, the same each time the path
    is asked for)."""
    if store == "sqlite":
        return lambda path: path
    server: PostgresServer = request.getfixturevalue("postgres_server")
    # Posts' files on PostgreSQL go to data/files under the working directory (several
    # workers mount one folder): the test's own, not the checkout's or another test's,
    # whose /forgetme could discard a photo this test stored too.
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setattr(bridgebot.store, "PG_FILES", tmp_path / "data" / "files")
    schemas: dict[Path, str] = {}

    def on_postgres(path: Path) -> Path | str:
        if path not in schemas:
            schemas[path] = server.migrated()
        return schemas[path]

    return on_postgres


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bridgebot.sqlite3"


@pytest.fixture
def db_setting(database: Callable[[Path], Path | str], db_path: Path) -> Path | str:
    """The test's ``database`` setting on its store: ``db_path`` on SQLite, a migrated
    schema's address on PostgreSQL."""
    return database(db_path)


@pytest.fixture
async def build(tmp_path: Path, database: Callable[[Path], Path | str]) -> AsyncIterator[Build]:
    """``await build(**options)``: a world from :func:`allies`, stopped after the test, its
    database on the test's store.

    A test may build several (a restart over the same database, say); they stop in reverse.
    """
    async with contextlib.AsyncExitStack() as stack:
        async def make(**options: Any) -> World:
            options["database"] = database(options.get("database") or tmp_path / "bridgebot.sqlite3")
            return await stack.enter_async_context(allies(tmp_path, **options))

        yield make


@pytest.fixture
async def rooms_world(build: Build, db_path: Path) -> World:
    """Two console rooms, forum and lounge, on the "allies" bridge; retries come at once."""
    return await build(telegram=(), discord=(), console=ROOMS, database=db_path,
                       relay_backoff=Backoff(0.01))


@pytest.fixture
def runtime(rooms_world: World) -> Runtime:
    return rooms_world.runtime


@pytest.fixture
def console(rooms_world: World) -> ConsoleAdapter:
    assert rooms_world.console is not None
    return rooms_world.console


@pytest.fixture
async def bridged(build: Build) -> World:
    """Telegram's "Allies" group and Discord's #allies on one bridge, a topic open."""
    return await build(open_topic=True)
