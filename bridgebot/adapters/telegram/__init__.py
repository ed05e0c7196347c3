"""Telegram through python-telegram-bot: groups and forum supergroups.

``PLATFORM`` is the package's one record for :mod:`bridgebot.adapters.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bridgebot.adapters.platform import Finding, Platform, Sandbox
from bridgebot.adapters.telegram.settings import TelegramSettings
from bridgebot.core.attachments import MB, FileLimits

if TYPE_CHECKING:
    from bridgebot.adapters.telegram.adapter import TelegramAdapter


def _build(settings: TelegramSettings) -> TelegramAdapter:
    from bridgebot.adapters.telegram.adapter import TelegramAdapter

    return TelegramAdapter(settings)


async def _check(settings: TelegramSettings, chats: Sequence[int]) -> list[Finding]:
    from bridgebot.adapters.telegram.checks import check_telegram

    return await check_telegram(settings, chats)


def _sandbox() -> Sandbox:
    from bridgebot.sandbox.telegram import FakeTelegram
    from bridgebot.sandbox.telegram.client import telegram_adapter

    return Sandbox(server=FakeTelegram, adapter=telegram_adapter)


# Bots upload at most 50 MB per file, 10 MB for a photo, 10 per album (Bot API).
FILE_LIMITS = FileLimits(per_file=50 * MB, per_photo=10 * MB, count=10)

PLATFORM = Platform(
    name="telegram",
    display_name="Telegram",
    chats="telegram_chats",
    chat_id=int,
    settings=TelegramSettings,
    build=_build,
    check=_check,
    sandbox=_sandbox,
    profile_links=(r"(?:https?://)?(?:www\.)?(?:t\.me|telegram\.me|telegram\.dog)/", r"tg://"),
    file_limits=FILE_LIMITS,
    reserved_names=("Telegram user",),
)
