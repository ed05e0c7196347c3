"""The real bridgebot adapters pointed at the sandbox servers, through the platform registry.

The tests and ``bridgebot demo`` run the production adapters against the fakes in
``bridgebot/sandbox/<platform>/``. A platform's record names its sandbox (the fake
server and the builder of its real adapter against it, ``<platform>/client.py``), so
this module names no platform.
"""

from __future__ import annotations

from bridgebot.adapters import registry
from bridgebot.adapters.platform import Sandbox
from bridgebot.sandbox.discord.client import discord_adapter
from bridgebot.sandbox.telegram.client import telegram_adapter

# The two builders under the names existing callers import (tests, bench).
__all__ = ["discord_adapter", "sandbox", "telegram_adapter"]


def sandbox(platform: str) -> Sandbox:
    """``platform``'s fake server and adapter builder; LookupError when it has none."""
    record = registry.platform(platform)
    if record.sandbox is None:
        raise LookupError(f"{platform} has no sandbox (see its package's PLATFORM record)")
    return record.sandbox()
