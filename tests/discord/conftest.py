"""Discord worlds: the real DiscordAdapter (discord.py) connected to the fake Discord."""

from __future__ import annotations

import pytest

from ..auxil.world import World
from ..conftest import Build


@pytest.fixture
async def discord_world(build: Build) -> World:
    """The text channel #allies and the forum channel #discussions on one bridge."""
    return await build(telegram=(), discord=("channel", "forum"))
