"""Privacy worlds: console rooms with a bridge's privacy rules, and Telegram + Discord on one
bridge with the author rule chosen per test (both from :func:`tests.auxil.world.allies`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridgebot.adapters.console.adapter import ConsoleAdapter

from ..auxil.world import Clock, World
from ..conftest import ROOMS, Build

#: Monday 2 March 2026, 09:00 UTC: where the privacy tests' moved clocks start.
PRIVACY_START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

RoomsFactory = Callable[..., Awaitable[World]]


@pytest.fixture
def rooms(build: Build, db_path: Path) -> RoomsFactory:
    """``await rooms(authors="pseudonym", retention_days=30, console=..., clock=...)``."""

    async def make(console: ConsoleAdapter | None = None, clock: Clock | None = None,
                   **bridge: Any) -> World:
        return await build(telegram=(), discord=(), console=ROOMS, database=db_path,
                           console_adapter=console, clock=clock or Clock(PRIVACY_START), **bridge)

    return make


@pytest.fixture
async def two_platforms(build: Build, request: pytest.FixtureRequest) -> World:
    """Parametrize indirectly with the bridge's ``authors`` rule (default: display_name)."""
    return await build(authors=getattr(request, "param", "display_name"), open_topic=True)
