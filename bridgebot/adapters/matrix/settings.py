"""The ``[matrix]`` settings: the homeserver, the appservice's tokens and names."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from bridgebot.adapters.platform import SettingsSection

_LOCALPART = re.compile(r"^[a-z0-9._=/+-]+$")
MATRIX_USER = re.compile(r"^@[a-z0-9._=/+-]+:[A-Za-z0-9.:\[\]-]+$")


class MatrixSettings(SettingsSection):
    """How bridgebot joins a Matrix homeserver as an application service."""

    homeserver: str = Field(description="the homeserver's client API URL, e.g. https://matrix.example.org")
    server_name: str = Field(description="the part after ':' in user ids, e.g. example.org")
    as_token: SecretStr
    hs_token: SecretStr
    appservice_id: str = "bridgebot"
    bot_localpart: str = "bridgebot"
    # Ghosts (one per participant from another platform) are @<ghost_prefix><opaque id>.
    ghost_prefix: str = "bridgebot_"
    # Where the homeserver sends events: the bot listens on listen:port; ``url`` is how the
    # homeserver reaches it (defaults to http://listen:port).
    listen: str = "127.0.0.1"
    port: int = Field(29330, ge=1, le=65535)
    url: str | None = None
    facilitators: list[str] = Field(default_factory=list, description="Matrix user ids")

    @field_validator("bot_localpart", "ghost_prefix")
    @classmethod
    def _localpart(cls, value: str) -> str:
        if not _LOCALPART.match(value):
            raise ValueError("may hold only a-z, 0-9 and . _ = / + -")
        return value

    @field_validator("facilitators")
    @classmethod
    def _user_ids(cls, value: list[str]) -> list[str]:
        for user in value:
            if not MATRIX_USER.match(user):
                raise ValueError(f'"{user}" is not a Matrix user id like "@name:example.org"')
        return value

    @property
    def appservice_url(self) -> str:
        return self.url or f"http://{self.listen}:{self.port}"

    @property
    def bot_user_id(self) -> str:
        return f"@{self.bot_localpart}:{self.server_name}"
