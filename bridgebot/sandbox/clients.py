"""The real bridgebot adapters, pointed at the sandbox servers.

The tests and ``bridgebot demo`` both run the production adapters against
:class:`~bridgebot.sandbox.telegram.FakeTelegram` and
:class:`~bridgebot.sandbox.discord.FakeDiscord`; building them in one place keeps
what the demo shows identical to what the tests check.
"""

from __future__ import annotations

from typing import Any

from bridgebot.adapters.discord.adapter import DiscordAdapter
from bridgebot.adapters.discord.settings import DiscordSettings
from bridgebot.adapters.telegram.adapter import TelegramAdapter
from bridgebot.adapters.telegram.settings import TelegramSettings
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.sandbox.discord import FakeDiscord
from bridgebot.sandbox.telegram import FakeTelegram


def telegram_adapter(tg: FakeTelegram, token: str, limits: PlatformLimits | None = None,
                     **settings: Any) -> TelegramAdapter:
    """A Telegram adapter using the fake Bot API; a 1 s long poll keeps shutdown quick.

    ``limits`` replaces Telegram's rate budget (tests that are not about rate limits
    turn it off so they need not wait a second per message).
    """
    return TelegramAdapter(TelegramSettings(token=token, base_url=tg.url, **settings),
                           poll_timeout=1, limits=limits)


def discord_adapter(dc: FakeDiscord, token: str, guild_id: str,
                    facilitator_roles: tuple[str, ...] = ("Facilitator",),
                    limits: PlatformLimits | None = None) -> DiscordAdapter:
    """A Discord adapter using the fake REST API and gateway, commands synced to one guild.

    ``guild_ready_timeout`` is shortened: discord.py otherwise waits 2 s for guilds that
    the fake has already sent.
    """
    settings = DiscordSettings(token=token, api_base_url=dc.api_base, guilds=[int(guild_id)],
                               facilitator_roles=list(facilitator_roles))
    return DiscordAdapter(settings, client_options={"guild_ready_timeout": 0.05}, limits=limits)
