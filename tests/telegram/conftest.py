"""Telegram worlds: the real TelegramAdapter (python-telegram-bot) against the fake Bot API."""

from __future__ import annotations

import pytest

from ..auxil.world import World
from ..conftest import Build


@pytest.fixture
async def world(build: Build) -> World:
    """The "Allies forum" (topics) and the "Allies" supergroup on one bridge."""
    return await build(telegram=("forum", "group"), discord=())


@pytest.fixture
async def spanish_group(build: Build) -> World:
    """The forum speaks English, the plain group is configured for Spanish; Brittany's app is
    in English and Jessica's in Brazilian Portuguese (which bridgebot does not speak)."""
    return await build(telegram=("forum", "group"), discord=(), chat_languages={"group": "es"},
                       app_languages={"brittany": "en", "jessica": "pt-br"})
