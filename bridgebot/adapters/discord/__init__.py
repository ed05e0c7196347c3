"""Discord through discord.py: text and forum channels, threads, webhooks, slash commands.

``PLATFORM`` is the package's one record for :mod:`bridgebot.adapters.registry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bridgebot.adapters.discord.settings import DiscordSettings
from bridgebot.adapters.platform import Finding, Platform, Sandbox
from bridgebot.core.attachments import MIB, FileLimits

if TYPE_CHECKING:
    from bridgebot.adapters.discord.adapter import DiscordAdapter


def _build(settings: DiscordSettings) -> DiscordAdapter:
    from bridgebot.adapters.discord.adapter import DiscordAdapter

    return DiscordAdapter(settings)


async def _check(settings: DiscordSettings, channels: Sequence[int]) -> list[Finding]:
    from bridgebot.adapters.discord.checks import check_discord

    return await check_discord(settings, channels)


def _sandbox() -> Sandbox:
    from bridgebot.sandbox.discord import FakeDiscord
    from bridgebot.sandbox.discord.client import discord_adapter

    return Sandbox(server=FakeDiscord, adapter=discord_adapter)


# 10 files and 10 MiB per message without a boost (a boosted guild's own limit is
# used when sending; the core tells authors by this one).
FILE_LIMITS = FileLimits(per_file=10 * MIB, per_message=10 * MIB, count=10)

PLATFORM = Platform(
    name="discord",
    display_name="Discord",
    chats="discord_channels",
    chat_id=int,
    settings=DiscordSettings,
    build=_build,
    check=_check,
    sandbox=_sandbox,
    profile_links=(r"https?://(?:www\.|ptb\.|canary\.)?discord(?:app)?\.com/(?:users|channels)/",),
    file_limits=FILE_LIMITS,
    reserved_names=("Discord user",),
    edits_keep_names=True,
)
