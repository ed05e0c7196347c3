"""The ``[discord]`` settings section (``BRIDGEBOT_DISCORD__...``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from bridgebot.adapters.platform import SettingsSection


class DiscordSettings(SettingsSection):
    token: SecretStr
    api_base_url: str = "https://discord.com/api/v10"
    guilds: list[int] = Field(default_factory=list)
    facilitator_roles: list[str] = Field(default_factory=list)
