"""Telegram and Discord on one bridge, both real adapters against the fakes (shared fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.core.models import ChannelRef
from bridgebot.core.relay import Backoff
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.discord import FakeDiscord, Permissions
from bridgebot.sandbox.telegram import FakeTelegram

from .discord.conftest import make_adapter as make_discord
from .telegram.conftest import make_adapter as make_telegram


async def until(runtime: Runtime, predicate, timeout: float = 10.0):
    """Wait until ``predicate()`` is truthy, draining the relay between looks."""
    async with asyncio.timeout(timeout):
        while True:
            await runtime.drain(timeout=timeout)
            if result := predicate():
                return result
            await asyncio.sleep(0.02)


@dataclass
class Bridged:
    tg: FakeTelegram
    dc: FakeDiscord
    runtime: Runtime
    group: dict
    brittany: dict
    guild: dict
    channel: dict
    jessica: dict
    thread: dict
    root: dict

    async def until(self, predicate, timeout: float = 10.0):
        return await until(self.runtime, predicate, timeout)

    async def dead_letters(self, timeout: float = 10.0) -> list:
        async with asyncio.timeout(timeout):
            while True:
                dead = [e for e in await self.runtime.store.outbox() if e.state.value == "dead"]
                if dead:
                    return dead
                await asyncio.sleep(0.02)

    def discord_mirrors(self) -> list[dict]:
        return [m for m in self.dc.channel_messages(self.thread["id"]) if m.get("webhook_id")]

    def telegram_mirrors_all(self) -> list[dict]:
        """Every bot message in the group that is not a topic, question or notice: the
        pieces of a long mirrored post after the first carry no header."""
        return [m for m in self.tg.chat_messages(self.group["id"], include_service=False)
                if m.get("from", {}).get("is_bot")]

    def telegram_mirrors(self) -> list[dict]:
        return [m for m in self.tg.chat_messages(self.group["id"])
                if m.get("from", {}).get("is_bot") and " · Discord · #" in m.get("text", "")]


@pytest.fixture
async def bridged(tmp_path: Path) -> AsyncIterator[Bridged]:
    async with FakeTelegram() as tg, FakeDiscord(heartbeat_interval_ms=500) as dc:
        tg_token = tg.add_bot(username="bridgebot_test_bot")
        kristin = tg.add_user("Kristin", "Antin")
        group = tg.add_chat("Allies", owner=kristin)
        brittany = tg.add_user("Brittany", "Landorf", username="brittany_l")
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        role = dc.add_role(guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
        dc.add_member(guild["id"], "kristin", global_name="Kristin Antin", roles=[role["id"]])
        jessica = dc.add_member(guild["id"], "jessica", global_name="Jessica")
        bridge = Bridge("allies", (ChannelRef("telegram", str(group["id"])),
                                   ChannelRef("discord", channel["id"])))
        runtime = Runtime(tmp_path / "bridgebot.sqlite3", [bridge], relay_backoff=Backoff(0.2))
        runtime.add_adapter(make_telegram(tg, tg_token))
        runtime.add_adapter(make_discord(dc, dc_token, guild["id"]))
        await runtime.start()
        try:
            tg.user_sends(group["id"], kristin, "/newtopic Engaging allies\nShare your examples.")
            world = Bridged(tg, dc, runtime, group, brittany, guild, channel, jessica, {}, {})
            world.thread = (await world.until(lambda: dc.threads(channel["id"])))[0]
            world.root = next(m for m in tg.chat_messages(group["id"]) if m.get("from", {}).get(
                "is_bot") and m.get("text", "").startswith("Engaging allies"))
            yield world
        finally:
            await runtime.stop()
            reset_api_base()
