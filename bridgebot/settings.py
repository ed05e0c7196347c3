"""Settings from the environment (``BRIDGEBOT_``, ``__`` nests), ``.env`` and a TOML file.

Precedence, highest first: environment, ``.env``, the TOML file named by
``--config`` or ``BRIDGEBOT_CONFIG``, defaults. Tokens are ``SecretStr`` so they never
reach a log line or an error message; :func:`describe_error` turns a validation
failure into one sentence that names the key, never the value.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.i18n import DEFAULT_LANGUAGE, LANGUAGES, normalize_locale


def _language(value: str) -> str:
    lang = normalize_locale(value)
    if lang is None:
        raise ValueError(f'"{value}" is not a language bridgebot speaks (one of {", ".join(LANGUAGES)})')
    return lang


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the key and the problem."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookSettings(_Section):
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


class TelegramSettings(_Section):
    token: SecretStr
    base_url: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook: WebhookSettings | None = None
    facilitators: list[int] = Field(default_factory=list)


class DiscordSettings(_Section):
    token: SecretStr
    api_base_url: str = "https://discord.com/api/v10"
    guilds: list[int] = Field(default_factory=list)
    facilitator_roles: list[str] = Field(default_factory=list)


class HealthSettings(_Section):
    """The health endpoint (``/healthz``, ``/metrics``); only served when this section is set."""

    listen: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)


class BridgeSettings(_Section):
    name: str = Field(min_length=1)
    telegram_chats: list[int] = Field(default_factory=list)
    discord_channels: list[int] = Field(default_factory=list)
    console_rooms: list[str] = Field(default_factory=list)
    # What the bot writes into these chats for everyone (topics, notices, digests); answers to
    # one person follow their app's language. ``chat_languages`` sets it per chat id.
    language: str = DEFAULT_LANGUAGE
    chat_languages: dict[str, str] = Field(default_factory=dict)
    # Privacy (README "Privacy and safety"): how authors appear on the other chats, and how
    # many days after a topic is locked its posts' text is erased (unset: kept).
    authors: Literal["display_name", "first_name", "pseudonym"] = "display_name"
    retention_days: int | None = Field(None, ge=1, le=36500)

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        return _language(value)

    @field_validator("chat_languages")
    @classmethod
    def _known_chat_languages(cls, value: dict[str, str]) -> dict[str, str]:
        return {str(chat): _language(lang) for chat, lang in value.items()}

    @model_validator(mode="after")
    def _chat_languages_name_chats(self) -> BridgeSettings:
        chats = {str(c) for c in [*self.telegram_chats, *self.discord_channels, *self.console_rooms]}
        unknown = sorted(set(self.chat_languages) - chats)
        if unknown:
            raise ValueError(f"chat_languages names {', '.join(unknown)}, not a chat of this bridge")
        return self

    def to_bridge(self) -> Bridge:
        channels = (
            [ChannelRef("telegram", str(c)) for c in self.telegram_chats]
            + [ChannelRef("discord", str(c)) for c in self.discord_channels]
            + [ChannelRef("console", r) for r in self.console_rooms]
        )
        chat_languages = {c: self.chat_languages[c.chat_id] for c in channels
                          if c.chat_id in self.chat_languages}
        return Bridge(self.name, tuple(channels), self.language, chat_languages,
                      authors=self.authors, retention_days=self.retention_days)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BRIDGEBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
    )

    database: Path = Path("data/bridgebot.sqlite3")
    help_text: str | None = None
    facilitators: list[str] = Field(
        default_factory=list,
        description='people who may facilitate everywhere, as "platform:user_id"',
    )
    telegram: TelegramSettings | None = None
    discord: DiscordSettings | None = None
    health: HealthSettings | None = None
    bridges: list[BridgeSettings] = Field(default_factory=list)

    @field_validator("facilitators")
    @classmethod
    def _platform_prefixed(cls, value: list[str]) -> list[str]:
        for entry in value:
            platform, sep, user = entry.partition(":")
            if not sep or not user or platform not in ("telegram", "discord", "console"):
                raise ValueError(f'"{entry}" should look like "telegram:12345" or "console:Name"')
        return value

    @field_validator("bridges")
    @classmethod
    def _unique_channels(cls, value: list[BridgeSettings]) -> list[BridgeSettings]:
        seen: dict[ChannelRef, str] = {}
        names: set[str] = set()
        for bridge in value:
            if bridge.name in names:
                raise ValueError(f'two bridges are named "{bridge.name}"')
            names.add(bridge.name)
            for channel in bridge.to_bridge().channels:
                if channel in seen:
                    raise ValueError(
                        f"{channel} is in both bridge {seen[channel]!r} and {bridge.name!r}"
                    )
                seen[channel] = bridge.name
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    def facilitator_pairs(self) -> list[tuple[str, str]]:
        pairs = [tuple(f.split(":", 1)) for f in self.facilitators]
        if self.telegram:
            pairs += [("telegram", str(uid)) for uid in self.telegram.facilitators]
        return pairs  # type: ignore[return-value]

    def all_bridges(self) -> list[Bridge]:
        return [b.to_bridge() for b in self.bridges]


def describe_error(err: ValidationError) -> str:
    """One line per problem, naming the key (``telegram.token``) but never its value."""
    lines = []
    for problem in err.errors(include_input=False, include_url=False):
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"]
        if problem["type"] == "missing":
            message = "is required but not set"
        elif problem["type"] == "extra_forbidden":
            message = "is not a known setting (check the spelling)"
        lines.append(f"{key}: {message}")
    return "; ".join(lines)


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """Read settings, raising :class:`ConfigError` with a one-line explanation."""
    path = config or os.environ.get("BRIDGEBOT_CONFIG")
    cls: type[Settings] = Settings
    if path:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"config file {path} cannot be read: {err}") from None
        cls = type(
            "Settings", (Settings,), {"model_config": {**Settings.model_config, "toml_file": path}}
        )
    try:
        return cls(**overrides)
    except ValidationError as err:
        raise ConfigError(f"bad setting {describe_error(err)}") from None
    except ValueError as err:  # e.g. an env var that is not valid JSON for a list
        raise ConfigError(f"bad setting: {str(err).splitlines()[0]}") from None
