"""Fixtures every suite shares; each builds its world with :func:`tests.auxil.world.allies`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core.relay import Backoff
from bridgebot.runtime import Runtime

# FACILITATOR, FORUM, LOUNGE and person live in auxil/world.py; importing them from here
# keeps working.
from .auxil.world import FACILITATOR, FORUM, LOUNGE, World, allies, person  # noqa: F401

ROOMS = ("forum", "lounge")

Build = Callable[..., Awaitable[World]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bridgebot.sqlite3"


@pytest.fixture
async def build(tmp_path: Path) -> AsyncIterator[Build]:
    """``await build(**options)``: a world from :func:`allies`, stopped after the test.

    A test may build several (a restart over the same database, say); they stop in reverse.
    """
    async with contextlib.AsyncExitStack() as stack:
        async def make(**options: Any) -> World:
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
