"""The real Discord adapter, pointed at :class:`~bridgebot.sandbox.discord.FakeDiscord`.

The tests and ``bridgebot demo`` build it here, so what the demo shows is what the
tests check. The Discord platform record's ``sandbox`` names this builder.
"""

from __future__ import annotations

from bridgebot.adapters.discord.adapter import DiscordAdapter
from bridgebot.adapters.discord.settings import DiscordSettings
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.sandbox.discord.server import FakeDiscord


def discord_adapter(dc: FakeDiscord, token: str, guild_id: str,
                    facilitator_roles: tuple[str, ...] = ("Facilitator",),
                    limits: PlatformLimits | None = None, shard_count: int = 1,
                    shard_ids: list[int] | None = None) -> DiscordAdapter:
    """A Discord adapter using the fake REST API and gateway, commands synced to one guild
    (``shard_count`` and ``shard_ids`` as the settings of the same names).

    ``guild_ready_timeout`` is shortened: discord.py otherwise waits 2 s for guilds that
    the fake has already sent.
    """
    settings = DiscordSettings(token=token, api_base_url=dc.api_base, guilds=[int(guild_id)],
                               facilitator_roles=list(facilitator_roles),
                               shard_count=shard_count, shard_ids=shard_ids)
    return DiscordAdapter(settings, client_options={"guild_ready_timeout": 0.05}, limits=limits)
