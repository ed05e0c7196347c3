"""Build the platform adapters the settings ask for."""

from __future__ import annotations

from bridgebot.core.adapter import Adapter
from bridgebot.settings import Settings


def build_adapters(settings: Settings) -> list[Adapter]:
    adapters: list[Adapter] = []
    if settings.telegram is not None:
        from bridgebot.adapters.telegram.adapter import TelegramAdapter

        adapters.append(TelegramAdapter(settings.telegram))
    if settings.discord is not None:
        from bridgebot.adapters.discord.adapter import DiscordAdapter

        adapters.append(DiscordAdapter(settings.discord))
    return adapters
