"""Fixtures for privacy tests: console rooms with a bridge's privacy settings, a movable
clock, and Telegram and Discord on one bridge with the author rule chosen per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridgebot.adapters.console.adapter import ConsoleAdapter, Shown
from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.models import Author, ChannelRef, ReceiveOutcome
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.discord import FakeDiscord, Permissions
from bridgebot.sandbox.telegram import FakeTelegram

from ..bridged import until
from ..conftest import FACILITATOR, FORUM, LOUNGE
from ..discord.conftest import make_adapter as make_discord
from ..telegram.conftest import make_adapter as make_telegram


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Rooms:
    """Two console rooms on one bridge, with helpers to type commands and posts."""

    runtime: Runtime
    console: ConsoleAdapter
    clock: Clock

    async def command(self, who: Author, text: str, room: ChannelRef = FORUM,
                      admin: bool = False) -> str:
        name, _, args = text.lstrip("/").partition(" ")
        thread = self.console.thread_of_room.get(room.chat_id)
        ctx = CommandContext(who, ChannelRef(room.platform, room.chat_id, thread), platform_admin=admin)
        answer = await run_command(self.runtime.core, ctx, name, args)
        await self.runtime.drain()
        return answer

    async def open_topic(self, title: str = "Engaging allies") -> None:
        answer = await self.command(FACILITATOR, f"/newtopic {title}\nShare your examples.")
        assert "is open" in answer, answer

    async def say(self, who: Author, text: str, room: ChannelRef = FORUM,
                  reply_to: str | None = None) -> tuple[Shown, ReceiveOutcome]:
        shown, outcome = await self.console.say(room.chat_id, who, text, reply_to=reply_to)
        await self.runtime.drain()
        return shown, outcome

    def mirrors(self, room: ChannelRef) -> list[Shown]:
        """Post copies the bridge showed in a room (not the bot's own notices)."""
        return [s for s in self.console.visible(room.chat_id) if " · " in s.author]


RoomsFactory = Callable[..., Awaitable[Rooms]]


@pytest.fixture
async def rooms(db_path: Path) -> AsyncIterator[RoomsFactory]:
    """``await rooms(authors="pseudonym", retention_days=30, console=..., clock=...)``."""
    started: list[Runtime] = []

    async def make(console: ConsoleAdapter | None = None, clock: Clock | None = None,
                   **bridge: object) -> Rooms:
        clock = clock or Clock()
        adapter = console or ConsoleAdapter()
        runtime = Runtime(db_path, [Bridge("allies", (FORUM, LOUNGE), **bridge)],  # type: ignore[arg-type]
                          facilitators=[("console", FACILITATOR.user_id)], clock=clock)
        runtime.add_adapter(adapter)
        await runtime.start()
        started.append(runtime)
        return Rooms(runtime, adapter, clock)

    yield make
    for runtime in started:
        await runtime.stop()



@dataclass
class TwoPlatforms:
    """Telegram group and Discord channel on one bridge, real adapters against the fakes."""

    tg: FakeTelegram
    dc: FakeDiscord
    runtime: Runtime
    group: dict
    kristin_tg: dict
    brittany: dict
    guild: dict
    channel: dict
    kristin_dc: dict
    jessica: dict
    quiet: dict  # a Discord member who never set a display name: only a username
    thread: dict
    root: dict

    async def until(self, predicate, timeout: float = 10.0):
        return await until(self.runtime, predicate, timeout)

    async def settle(self) -> None:
        await self.tg.wait_for(lambda: not self.tg.pending_updates())
        await self.runtime.drain()

    def discord_mirrors(self) -> list[dict]:
        return [m for m in self.dc.channel_messages(self.thread["id"]) if m.get("webhook_id")]

    def telegram_bot_messages(self) -> list[dict]:
        return [m for m in self.tg.chat_messages(self.group["id"]) if m.get("from", {}).get("is_bot")]

    async def slash(self, user: dict, command: str, **options) -> str:
        handle = self.dc.invoke_command(user, self.guild["id"], self.thread["id"], command, options)
        await handle.response(timeout=5)
        followups = await handle.wait_for_followups(1)
        await self.runtime.drain()
        return followups[0]["content"]


@pytest.fixture
async def two_platforms(tmp_path: Path, request) -> AsyncIterator[TwoPlatforms]:
    """Parametrize indirectly with the bridge's ``authors`` rule (default: display_name)."""
    authors = getattr(request, "param", "display_name")
    async with FakeTelegram() as tg, FakeDiscord(heartbeat_interval_ms=500) as dc:
        tg_token = tg.add_bot(username="bridgebot_test_bot")
        kristin_tg = tg.add_user("Kristin", "Antin", username="kristin_a")
        group = tg.add_chat("Allies", owner=kristin_tg)
        brittany = tg.add_user("Brittany", "Landorf", username="brittany_l")
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        role = dc.add_role(guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
        kristin_dc = dc.add_member(guild["id"], "kristin", global_name="Kristin Antin",
                                   roles=[role["id"]])
        jessica = dc.add_member(guild["id"], "jessica_handle", global_name="Jessica Okafor")
        quiet = dc.add_member(guild["id"], "quiet_handle")
        bridge = Bridge("allies", (ChannelRef("telegram", str(group["id"])),
                                   ChannelRef("discord", channel["id"])), authors=authors)
        runtime = Runtime(tmp_path / "bridgebot.sqlite3", [bridge])
        runtime.add_adapter(make_telegram(tg, tg_token))
        runtime.add_adapter(make_discord(dc, dc_token, guild["id"]))
        await runtime.start()
        try:
            tg.user_sends(group["id"], kristin_tg, "/newtopic Engaging allies\nShare your examples.")
            thread = (await until(runtime, lambda: dc.threads(channel["id"])))[0]
            root = next(m for m in tg.chat_messages(group["id"]) if m.get("from", {}).get("is_bot")
                        and m.get("text", "").startswith("Engaging allies"))
            yield TwoPlatforms(tg, dc, runtime, group, kristin_tg, brittany, guild, channel,
                               kristin_dc, jessica, quiet, thread, root)
        finally:
            await runtime.stop()
            reset_api_base()
