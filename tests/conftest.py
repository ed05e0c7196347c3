"""Shared fixtures: a real SQLite file, the real core and relay, console rooms as platforms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.relay import Backoff
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime

from .bridged import bridged  # noqa: F401 - Telegram and Discord on one bridge, for every test

FORUM = ChannelRef("console", "forum")
LOUNGE = ChannelRef("console", "lounge")
FACILITATOR = Author("console", "kristin", "Kristin Antin")


def person(name: str) -> Author:
    return Author("console", name.lower().replace(" ", "-"), name)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bridgebot.sqlite3"


@pytest.fixture
async def console() -> ConsoleAdapter:
    return ConsoleAdapter()


@pytest.fixture
async def runtime(db_path: Path, console: ConsoleAdapter) -> AsyncIterator[Runtime]:
    rt = Runtime(db_path, [Bridge("allies", (FORUM, LOUNGE))],
                 facilitators=[("console", FACILITATOR.user_id)], relay_backoff=Backoff(0.01))
    rt.add_adapter(console)
    await rt.start()
    yield rt
    await rt.stop()
