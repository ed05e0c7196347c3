"""The ``[telegram]`` settings section (``BRIDGEBOT_TELEGRAM__...``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from bridgebot.adapters.platform import SettingsSection


class WebhookSettings(SettingsSection):
    listen: str = "127.0.0.1"
    port: int = Field(8443, ge=1, le=65535)
    public_url: str
    secret_token: SecretStr

    @field_validator("secret_token")
    @classmethod
    def _secret_shape(cls, value: SecretStr) -> SecretStr:
        # Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and -.
        raw = value.get_secret_value()
        if not (1 <= len(raw) <= 256) or not all(c.isalnum() or c in "_-" for c in raw):
            raise ValueError("must be 1-256 characters of letters, digits, _ or -")
        return value


class TelegramSettings(SettingsSection):
    token: SecretStr
    base_url: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookSettings | None = None
    facilitators: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _webhook_mode_has_its_section(self) -> TelegramSettings:
        if self.mode == "webhook" and self.webhook is None:
            raise ValueError('mode = "webhook" needs a [telegram.webhook] section with public_url and '
                             "secret_token")
        return self
