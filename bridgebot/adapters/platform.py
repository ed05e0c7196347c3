"""The one record a platform package exports, and the types its parts share.

Everything outside ``bridgebot/adapters/<platform>/`` that must know a platform
(settings, the CLI, ``check-config``, ``/healthz``, exports, privacy, the demo) reads
it from this record through :mod:`bridgebot.adapters.registry`, so adding a platform
is its package plus one line there. Records stay cheap to import: ``build``, ``check`` and
``sandbox`` import the platform's library only when called.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from bridgebot.core.platforms import PlatformInfo

if TYPE_CHECKING:
    from bridgebot.core.adapter import Adapter


class SettingsSection(BaseModel):
    """Base of a platform's settings section (``[telegram]``): unknown keys are errors.

    A ``facilitators`` list in a section names user ids who facilitate everywhere.
    """

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Finding:
    """One row of the ``check-config`` table."""

    platform: str
    where: str
    check: str
    ok: bool
    detail: str = ""
    # Not a fault, but not checked either: only possible once ``bridgebot run`` has done
    # its part (a Matrix room's power levels, which only members may read). Shown as
    # "later", and the summary says so rather than that every check passed.
    later: bool = False


# A platform's check-config: its settings section and every bridged chat id -> rows.
Check = Callable[[Any, Sequence[Any]], Awaitable[list[Finding]]]


@dataclass(frozen=True)
class PlatformCommand:
    """A ``bridgebot <name>`` subcommand that only makes sense for one platform
    (``matrix-registration``). ``run`` gets the platform's settings section (None when it
    is not configured) and the parsed arguments, and returns the exit code."""

    name: str
    summary: str
    run: Callable[[Any, argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


@dataclass(frozen=True)
class Sandbox:
    """A platform's fake server on 127.0.0.1 and its real adapter pointed at it, for the
    demo and the tests: no token, no network."""

    # The fake (``FakeTelegram``): an async context manager that serves while open.
    server: Callable[..., Any]
    # ``(server, token, ...) -> Adapter``; the platform's own options follow the token.
    adapter: Callable[..., Adapter]


@dataclass(frozen=True, kw_only=True)
class Platform(PlatformInfo):
    """A platform package's record (see README "Adding a platform")."""

    # The bridge setting listing its chats ("telegram_chats") and the type of their ids.
    chats: str
    chat_id: type[int] | type[str] = int
    # The settings section named like the platform; None when it needs none (console).
    settings: type[SettingsSection] | None = None
    # The adapter ``bridgebot run`` starts, from the settings section.
    build: Callable[[Any], Adapter] | None = None
    # ``check-config``: what the bot may do in each bridged chat, asked of the platform.
    check: Check | None = None
    # Subcommands of its own, listed with the others in ``bridgebot --help``.
    commands: tuple[PlatformCommand, ...] = ()
    # Its sandbox (bridgebot/sandbox/<platform>/) for the demo and the tests, if it has one.
    sandbox: Callable[[], Sandbox] | None = None

    @property
    def chats_noun(self) -> str:
        """"chats" for ``telegram_chats``: what the platform calls a bridged place."""
        return self.chats.removeprefix(f"{self.name}_").replace("_", " ")

    def required_keys(self) -> str:
        """``telegram.token (BRIDGEBOT_TELEGRAM__TOKEN)``: what it cannot run without."""
        fields = self.settings.model_fields if self.settings is not None else {}
        return " and ".join(f"{self.name}.{key} (BRIDGEBOT_{self.name.upper()}__{key.upper()})"
                            for key, field in fields.items() if field.is_required())
