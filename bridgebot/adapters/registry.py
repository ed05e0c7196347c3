"""Every platform bridgebot knows, in one place: one line per platform package.

Settings, CLI choices, ``check-config``, ``/healthz``, exports, privacy and the demo
all read :func:`platforms`; see README "Adding a platform". The order is the order of
a bridge's chats and of ``check-config``'s table.
"""

from __future__ import annotations

from bridgebot.adapters import console, discord, matrix, telegram
from bridgebot.adapters.platform import Platform
from bridgebot.core.platforms import Platforms

PLATFORMS: tuple[Platform, ...] = (
    telegram.PLATFORM,
    discord.PLATFORM,
    matrix.PLATFORM,
    console.PLATFORM,
)


def platforms() -> tuple[Platform, ...]:
    """The registered platforms (read at call time, so a test can register one more)."""
    return PLATFORMS


def platform(name: str) -> Platform:
    """The record named ``name``; KeyError when no such platform is registered."""
    return {p.name: p for p in platforms()}[name]


def core_platforms() -> Platforms:
    """What the core is told about the platforms (display names, links, reserved names)."""
    return Platforms(platforms())


def display_name(name: str) -> str:
    """"Telegram" for "telegram", for bylines; an unknown platform shows as it is stored."""
    return core_platforms().display_name(name)
