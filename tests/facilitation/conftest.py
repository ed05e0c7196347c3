"""Facilitation tests: a clock the test moves, and Telegram + Discord fakes on one bridge."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.discord import FakeDiscord, Permissions
from bridgebot.sandbox.telegram import FakeTelegram

from ..bridged import until
from ..discord.conftest import make_adapter as make_discord
from ..telegram.conftest import make_adapter as make_telegram

START = datetime(2027, 3, 22, 13, 0, tzinfo=UTC)  # Monday 08:00 in Chicago (CDT)


class Clock:
    """The time the bot sees; tests move it instead of sleeping through minutes."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()



@dataclass
class TwoPlatforms:
    """A Telegram supergroup and a Discord text channel on one bridge, named "allies"."""

    tg: FakeTelegram
    dc: FakeDiscord
    runtime: Runtime
    group: dict
    guild: dict
    channel: dict
    kristin_tg: dict
    brittany: dict
    kristin_dc: dict
    jessica: dict
    extra: dict = field(default_factory=dict)

    def bot_texts(self) -> list[str]:
        """What the bot wrote in the Telegram group that is still there, in order."""
        return [m["text"] for m in self.tg.chat_messages(self.group["id"])
                if m.get("from", {}).get("is_bot") and "text" in m]

    def thread(self) -> dict:
        return self.dc.threads(self.channel["id"])[0]

    def discord_texts(self) -> list[str]:
        threads = self.dc.threads(self.channel["id"])
        if not threads:
            return []
        return [m["content"] for m in self.dc.channel_messages(threads[0]["id"])]

    async def until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        return await until(self.runtime, predicate, timeout)

    async def command(self, user: dict, channel_id: str, name: str, **options: Any) -> dict:
        handle = self.dc.invoke_command(user, self.guild["id"], channel_id, name, options)
        await handle.response(timeout=5)
        followups = await handle.wait_for_followups(1)
        await self.runtime.drain()
        return followups[0]


@contextlib.asynccontextmanager
async def two_platforms(tmp_path: Path, clock: Clock | None = None, *,
                        telegram_bot_rights: dict | None = None) -> AsyncIterator[TwoPlatforms]:
    """Both fakes, both real adapters, one runtime (the database under ``tmp_path``)."""
    async with FakeTelegram() as tg, FakeDiscord(heartbeat_interval_ms=500) as dc:
        tg_token = tg.add_bot(username="bridgebot_test_bot")
        kristin_tg = tg.add_user("Kristin", "Antin")
        group = tg.add_chat("Allies", owner=kristin_tg, bot_rights=telegram_bot_rights)
        brittany = tg.add_user("Brittany", "Landorf", username="brittany_l")
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        role = dc.add_role(guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
        kristin_dc = dc.add_member(guild["id"], "kristin", global_name="Kristin Antin",
                                   roles=[role["id"]])
        jessica = dc.add_member(guild["id"], "jessica", global_name="Jessica")
        bridge = Bridge("allies", (ChannelRef("telegram", str(group["id"])),
                                   ChannelRef("discord", channel["id"])))
        runtime = Runtime(tmp_path / "bridgebot.sqlite3", [bridge], clock=clock,
                          schedule_recheck=0.2)
        runtime.add_adapter(make_telegram(tg, tg_token))
        runtime.add_adapter(make_discord(dc, dc_token, guild["id"]))
        await runtime.start()
        try:
            yield TwoPlatforms(tg, dc, runtime, group, guild, channel, kristin_tg, brittany,
                               kristin_dc, jessica)
        finally:
            await runtime.stop()
            reset_api_base()
