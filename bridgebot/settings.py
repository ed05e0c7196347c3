"""Settings from the environment (``BRIDGEBOT_``, ``__`` nests), ``.env`` and a TOML file.

Precedence, highest first: environment, ``.env``, the TOML file named by
``--config`` or ``BRIDGEBOT_CONFIG``, defaults. Tokens are ``SecretStr`` so they never
reach a log line or an error message; :func:`describe_error` turns a validation
failure into one sentence that names the key, never the value.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from bridgebot.adapters import registry
from bridgebot.adapters.platform import Platform, SettingsSection
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.i18n import DEFAULT_LANGUAGE, LANGUAGES, normalize_locale
from bridgebot.secretfiles import EnvWithSecretFiles
from bridgebot.settings_errors import describe_env_parse_error, describe_validation

log = logging.getLogger(__name__)

# What example files and tutorials put where a token goes: such a value is no token, and
# calling a platform's real API with it would only fail (or worse, look like an attack).
PLACEHOLDER = re.compile(r"(set[-_ ]?me\b.*|change[-_ ]?me.*|replace[-_ ]?me.*|your[-_ ].*|<[^>]*>|"
                         r"x{3,}|\.{3}|…|todo|fixme|placeholder|token|secret)", re.IGNORECASE)


def _language(value: str) -> str:
    lang = normalize_locale(value)
    if lang is None:
        raise ValueError(f'"{value}" is not a language bridgebot speaks (one of {", ".join(LANGUAGES)})')
    return lang


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the key and the problem."""


class HealthSettings(SettingsSection):
    """The health endpoint (``/healthz``, ``/metrics``); only served when this section is set."""

    listen: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)


class BridgeSettings(SettingsSection):
    """One ``[[bridges]]`` entry. Each registered platform adds the list of its chats
    (``telegram_chats``, ``discord_channels``, ...): see :func:`settings_class`."""

    platforms: ClassVar[tuple[Platform, ...]] = ()

    name: str = Field(min_length=1)
    # What the bot writes into these chats for everyone (topics, notices, digests); answers to
    # one person follow their app's language. ``chat_languages`` sets it per chat id.
    language: str = DEFAULT_LANGUAGE
    chat_languages: dict[str, str] = Field(default_factory=dict)
    # Privacy (README "Privacy and safety"): how authors appear on the other chats, and how
    # many days after a topic is locked its posts' text is erased (unset: kept).
    authors: Literal["display_name", "first_name", "pseudonym"] = "display_name"
    retention_days: int | None = Field(None, ge=1, le=36500)
    # In a chat without threads (a plain Telegram group) with exactly one open topic, a
    # message that replies to nothing is a post in that topic.
    single_topic_posts: bool = True

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
        chats = {c.chat_id for c in self.channels()}
        unknown = sorted(set(self.chat_languages) - chats)
        if unknown:
            raise ValueError(f"chat_languages names {', '.join(unknown)}, not a chat of this bridge")
        return self

    def chat_ids(self, platform: Platform) -> list[Any]:
        """The ids this bridge lists for ``platform`` (its ``telegram_chats`` setting)."""
        return list(getattr(self, platform.chats, ()))

    def channels(self) -> list[ChannelRef]:
        """Every linked chat, platform by platform in the registry's order."""
        return [ChannelRef(p.name, str(c)) for p in self.platforms for c in self.chat_ids(p)]

    def to_bridge(self) -> Bridge:
        channels = self.channels()
        chat_languages = {c: self.chat_languages[c.chat_id] for c in channels
                          if c.chat_id in self.chat_languages}
        return Bridge(self.name, tuple(channels), self.language, chat_languages,
                      authors=self.authors, retention_days=self.retention_days,
                      single_topic_posts=self.single_topic_posts)


class Settings(BaseSettings):
    """Everything but the platform sections, which :func:`settings_class` adds from the
    registry (``[telegram]``, ``BRIDGEBOT_DISCORD__TOKEN``, ...)."""

    platforms: ClassVar[tuple[Platform, ...]] = ()
    model_config = SettingsConfigDict(
        env_prefix="BRIDGEBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="forbid",
    )

    # A SQLite file (a path, or sqlite:///path), or a PostgreSQL server (postgresql://...).
    database: Path | str = Path("data/bridgebot.sqlite3")
    # Where posts' files (photos, documents) are stored. Unset: files/ beside the SQLite
    # file, or data/files with PostgreSQL. Every worker on one PostgreSQL and
    # `bridgebot serve` must see the same folder (a shared volume): checked writable at start.
    files_dir: Path | None = None
    # Delivered outbox rows are deleted this many hours after delivery (at least 1: what a
    # crash's reconciliation needs is the pending rows; pending and dead rows always stay).
    outbox_retention_hours: float = Field(168.0, ge=1.0)
    help_text: str | None = None
    # Where readers reach `bridgebot serve` (https://archive.example.org): a file that cannot
    # cross to a chat carries a link to its archive copy there. Unset: the line names it only.
    archive_url: str | None = Field(None, pattern=r"^https?://[^\s/]+(/\S*)?$")
    facilitators: list[str] = Field(
        default_factory=list,
        description='people who may facilitate everywhere, as "platform:user_id"',
    )
    health: HealthSettings | None = None
    bridges: list[BridgeSettings] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _placeholders_are_not_set(cls, data: Any) -> Any:
        """A platform whose token is a placeholder ("set-me-in-the-environment") is not configured."""
        if not isinstance(data, dict):
            return data
        for platform in cls.platforms:
            section = data.get(platform.name)
            token = section.get("token") if isinstance(section, dict) else None
            raw = token.get_secret_value() if isinstance(token, SecretStr) else token
            if isinstance(raw, str) and PLACEHOLDER.fullmatch(raw.strip()):
                log.warning("%s.token is a placeholder, not a token, so %s is not configured: set "
                            "BRIDGEBOT_%s__TOKEN (or BRIDGEBOT_%s__TOKEN_FILE)", platform.name,
                            platform.display_name, platform.name.upper(), platform.name.upper())
                data = {k: v for k, v in data.items() if k != platform.name}
        return data

    @field_validator("database", mode="before")
    @classmethod
    def _database(cls, value: object) -> object:
        """A PostgreSQL address stays text; anything else names a SQLite file."""
        if isinstance(value, str) and not value.startswith(("postgresql://", "postgres://")):
            return Path(value.removeprefix("sqlite:///"))
        return value

    @field_validator("files_dir", mode="before")
    @classmethod
    def _files_dir(cls, value: object) -> object:
        """An empty value (``BRIDGEBOT_FILES_DIR=``) is unset, not the working directory."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("facilitators")
    @classmethod
    def _platform_prefixed(cls, value: list[str]) -> list[str]:
        for entry in value:
            platform, sep, user = entry.partition(":")
            known = [p.name for p in cls.platforms]
            if not sep or not user or platform not in known:
                raise ValueError(f'"{entry}" should look like "platform:user_id", the platform '
                                 f'one of {", ".join(known)}')
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
            EnvWithSecretFiles(settings_cls),  # BRIDGEBOT_…_FILE: Docker secrets
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    def section(self, platform: str) -> SettingsSection | None:
        """A platform's settings section (``[telegram]``), None when it is not configured."""
        section = getattr(self, platform, None)
        return section if isinstance(section, SettingsSection) else None

    def configured(self) -> list[tuple[Platform, SettingsSection]]:
        """The platforms with a settings section, and their sections."""
        return [(p, section) for p in self.platforms
                if p.settings is not None and (section := self.section(p.name)) is not None]

    def facilitator_pairs(self) -> list[tuple[str, str]]:
        """``facilitators`` plus each platform section's own ``facilitators`` list."""
        pairs = [(platform, user) for platform, _, user in (f.partition(":") for f in self.facilitators)]
        for platform, section in self.configured():
            pairs += [(platform.name, str(uid)) for uid in getattr(section, "facilitators", ())]
        return pairs

    def secrets(self) -> list[SecretStr]:
        """Every configured secret (tokens, webhook secrets), so that no log line carries one."""
        return _secrets(self)

    def all_bridges(self) -> list[Bridge]:
        return [b.to_bridge() for b in self.bridges]


def _secrets(value: object) -> list[SecretStr]:
    if isinstance(value, SecretStr):
        return [value]
    if isinstance(value, BaseModel):
        return [s for name in type(value).model_fields for s in _secrets(getattr(value, name))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _secrets(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _secrets(item)]
    return []


@functools.cache
def settings_class(platforms: tuple[Platform, ...]) -> type[Settings]:
    """The settings model for these platforms: a section per platform that has settings
    (``telegram: TelegramSettings | None``) and its chats list in every bridge."""
    chats: dict[str, Any] = {p.chats: (list[p.chat_id], Field(default_factory=list))  # type: ignore[name-defined]
                             for p in platforms}
    bridge = create_model("BridgeSettings", __base__=BridgeSettings, **chats)
    bridge.platforms = platforms
    sections: dict[str, Any] = {p.name: (p.settings | None, None)
                                for p in platforms if p.settings is not None}
    model = create_model("Settings", __base__=Settings, **sections,
                         bridges=(list[bridge], Field(default_factory=list)))
    model.platforms = platforms
    return model


def bridge_settings(settings: Settings, **values: Any) -> BridgeSettings:
    """A ``[[bridges]]`` entry for these settings' platforms (``console_rooms=[...]``)."""
    bridge: type[BridgeSettings] = get_args(type(settings).model_fields["bridges"].annotation)[0]
    return bridge.model_validate(values)


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
    cls = base = settings_class(registry.platforms())
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
        cls = type("Settings", (base,), {"model_config": {**base.model_config, "toml_file": path}})
    try:
        return cls(**overrides)
    except ValidationError as err:
        toml_file = path if isinstance(path, Path) else None
        raise ConfigError(f"bad setting {describe_validation(err, cls, toml_file)}") from None
    except ValueError as err:  # e.g. an env var that is not valid JSON for a list
        detail = describe_env_parse_error(cls) or str(err).splitlines()[0]
        raise ConfigError(f"bad setting: {detail}") from None
