"""A real DiscordAdapter (discord.py) connected to the fake Discord on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridgebot.adapters.discord.adapter import DiscordAdapter
from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.core.models import ChannelRef
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter
from bridgebot.sandbox.discord import FakeDiscord, Permissions


@dataclass
class DiscordWorld:
    dc: FakeDiscord
    runtime: Runtime
    adapter: DiscordAdapter
    guild: dict
    text: dict
    forum: dict
    kristin: dict
    brittany: dict
    jessica: dict

    async def settle(self) -> None:
        await self.runtime.drain()

    def mirrors(self, channel_id: str) -> list[dict]:
        """Messages our webhook posted in a channel or thread."""
        return [m for m in self.dc.channel_messages(channel_id) if m.get("webhook_id")]

    async def until(self, predicate, timeout: float = 5.0):
        """Wait until the gateway event was handled and its deliveries made."""
        async with asyncio.timeout(timeout):
            while True:
                await self.runtime.drain()
                if result := predicate():
                    return result
                await asyncio.sleep(0.01)

    async def posts(self, count: int, include_hidden: bool = False) -> list:
        async with asyncio.timeout(5):
            while True:
                posts = await self.runtime.store.posts(1, include_hidden=include_hidden)
                if len(posts) >= count:
                    return posts
                await asyncio.sleep(0.01)

    def calls(self, method: str, pattern: str) -> list:
        return self.dc.calls_to(method, pattern)

    async def command(self, user: dict, channel_id: str, name: str, **options):
        handle = self.dc.invoke_command(user, self.guild["id"], channel_id, name, options)
        await handle.response(timeout=5)
        followups = await handle.wait_for_followups(1)
        await self.runtime.drain()
        return followups[0]


UNLIMITED = PlatformLimits()


def make_adapter(dc: FakeDiscord, token: str, guild_id: str,
                 limits: PlatformLimits | None = UNLIMITED) -> DiscordAdapter:
    """The demo's adapter against the fake; rate budgets off unless a test is about them."""
    return discord_adapter(dc, token, guild_id, limits=limits)


@pytest.fixture
async def discord_world(tmp_path: Path) -> AsyncIterator[DiscordWorld]:
    async with FakeDiscord(heartbeat_interval_ms=500) as dc:
        token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        text = dc.add_text_channel(guild["id"], "allies")
        forum = dc.add_forum_channel(guild["id"], "discussions")
        facilitators = dc.add_role(guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
        kristin = dc.add_member(guild["id"], "kristin", global_name="Kristin Antin",
                                roles=[facilitators["id"]])
        brittany = dc.add_member(guild["id"], "brittany", global_name="Brittany Landorf")
        jessica = dc.add_member(guild["id"], "jessica", global_name="Jessica")
        channels = (ChannelRef("discord", text["id"]), ChannelRef("discord", forum["id"]))
        runtime = Runtime(tmp_path / "bridgebot.sqlite3", [Bridge("allies", channels)])
        adapter = make_adapter(dc, token, guild["id"])
        runtime.add_adapter(adapter)
        await runtime.start()
        try:
            yield DiscordWorld(dc, runtime, adapter, guild, text, forum, kristin, brittany, jessica)
        finally:
            await runtime.stop()
            reset_api_base()
