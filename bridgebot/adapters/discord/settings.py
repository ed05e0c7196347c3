"""The ``[discord]`` settings section (``BRIDGEBOT_DISCORD__...``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from bridgebot.adapters.platform import SettingsSection


class DiscordSettings(SettingsSection):
    token: SecretStr
    api_base_url: str = "https://discord.com/api/v10"
    guilds: list[int] = Field(default_factory=list)
    facilitator_roles: list[str] = Field(default_factory=list)
    # Gateway sharding: the bot's guilds split into shard_count gateway connections
    # (Discord requires one per 2,500 guilds), each held by one worker at a time. This
    # worker connects the shards in shard_ids (default: every shard) as soon as they are
    # free, and stands by for the others (taking one over when no worker holds it).
    shard_count: int = Field(1, ge=1)
    shard_ids: list[int] | None = None

    @model_validator(mode="after")
    def _shards_within_the_count(self) -> DiscordSettings:
        if self.shard_ids is not None:
            outside = [n for n in self.shard_ids if not 0 <= n < self.shard_count]
            if outside:
                raise ValueError(f"shard_ids must be between 0 and shard_count - 1 "
                                 f"({self.shard_count - 1}); {outside[0]} is not")
            if not self.shard_ids:
                raise ValueError("shard_ids is empty: leave it out to let this worker "
                                 "connect every shard first")
            if len(set(self.shard_ids)) != len(self.shard_ids):
                raise ValueError("shard_ids names a shard twice")
        return self

    def shards(self) -> list[int]:
        """The gateway shards this worker connects first (it stands by for the others)."""
        return sorted(self.shard_ids) if self.shard_ids is not None else list(range(self.shard_count))
