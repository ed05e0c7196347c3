"""Faults on the real platforms' wire: 429 storms, 5xx, vanished chats, gateway RESUME."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.core import relay as relay_module
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.discord_server import FakeDiscord, Permissions
from bridgebot.sandbox.telegram_server import FakeTelegram

from .discord.conftest import make_adapter as make_discord
from .telegram.conftest import make_adapter as make_telegram


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
        async with asyncio.timeout(timeout):
            while True:
                await self.runtime.drain(timeout=timeout)
                if result := predicate():
                    return result
                await asyncio.sleep(0.02)

    async def dead_letters(self, timeout: float = 10.0) -> list:
        async with asyncio.timeout(timeout):
            while True:
                dead = [e for e in await self.runtime.store.outbox() if e.state.value == "dead"]
                if dead:
                    return dead
                await asyncio.sleep(0.02)

    def discord_mirrors(self) -> list[dict]:
        return [m for m in self.dc.channel_messages(self.thread["id"]) if m.get("webhook_id")]

    def telegram_mirrors(self) -> list[dict]:
        return [m for m in self.tg.chat_messages(self.group["id"])
                if m.get("from", {}).get("is_bot") and " · Discord · #" in m.get("text", "")]


@pytest.fixture
async def bridged(tmp_path: Path) -> AsyncIterator[Bridged]:
    relay_module.BACKOFF_BASE = 0.2
    async with FakeTelegram() as tg, FakeDiscord(heartbeat_interval_ms=500) as dc:
        tg_token = tg.add_bot(username="bridgebot_test_bot")
        kristin = tg.add_user("Kristin", "Antin")
        group = tg.add_chat("Allies", owner=kristin)
        brittany = tg.add_user("Brittany", "Landorf")
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        dc.add_role(guild["id"], "Facilitator", Permissions.MANAGE_THREADS)
        jessica = dc.add_member(guild["id"], "jessica", global_name="Jessica")
        bridge = Bridge("allies", (ChannelRef("telegram", str(group["id"])),
                                   ChannelRef("discord", channel["id"])))
        runtime = Runtime(tmp_path / "bridgebot.sqlite3", [bridge])
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
            relay_module.BACKOFF_BASE = 1.0
            await runtime.stop()
            reset_api_base()


async def test_a_429_storm_is_waited_out_and_posts_arrive_once_in_order(bridged):
    w = bridged
    w.tg.fail_next("sendMessage", retry_after=1, times=2)
    for i in range(3):
        w.dc.user_sends(w.thread["id"], w.jessica, f"Discord reply {i}")
    mirrors = await w.until(lambda: len(w.telegram_mirrors()) >= 3 and w.telegram_mirrors())
    texts = [m["text"] for m in mirrors]
    assert [t.split("\n")[-1] for t in texts] == [f"Discord reply {i}" for i in range(3)]
    assert w.runtime.metrics.rate_limited == 2
    assert [c.status for c in w.tg.calls_to("sendMessage")].count(429) == 2


async def test_server_errors_are_retried_with_backoff(bridged):
    w = bridged
    w.tg.fail_next("sendMessage", error_code=500, times=2)
    w.dc.user_sends(w.thread["id"], w.jessica, "Through the storm")
    mirrors = await w.until(lambda: w.telegram_mirrors())
    assert mirrors[-1]["text"].endswith("Through the storm")
    assert w.runtime.metrics.retried == 2
    outbox = await w.runtime.store.outbox()
    assert all(e.state.value == "done" for e in outbox)


async def test_a_channel_that_disappears_is_dead_lettered_and_telegram_carries_on(bridged):
    w = bridged
    w.dc.delete_channel(w.thread["id"])
    w.tg.user_sends(w.group["id"], w.brittany, "Is anyone on Discord?",
                    reply_to=w.root["message_id"])
    dead = await w.dead_letters()
    assert "Unknown Channel" in dead[0].last_error or "10003" in dead[0].last_error
    w.tg.user_sends(w.group["id"], w.brittany, "/status")
    answer = await w.until(lambda: [m for m in w.tg.chat_messages(w.group["id"])
                                    if "posts /" in m.get("text", "")])
    assert "1 deliveries failed for good" not in answer[0]["text"]  # Brittany is no facilitator
    assert "2 posts" in answer[0]["text"]


async def test_messages_sent_while_the_gateway_was_down_are_replayed_once_on_resume(bridged):
    w = bridged
    await w.dc.disconnect_gateway(code=4000)
    w.dc.user_sends(w.thread["id"], w.jessica, "Written during the outage")
    w.dc.user_sends(w.thread["id"], w.jessica, "And another one")
    mirrors = await w.until(lambda: len(w.telegram_mirrors()) >= 2 and w.telegram_mirrors())
    assert w.dc.stats.resumes >= 1
    # Reading the thread's history again (as after a restart) records nothing twice.
    await w.runtime.adapters["discord"].catch_up()
    await w.runtime.drain()
    posts = await w.runtime.store.posts(1)
    assert [p.text for p in posts[1:]] == ["Written during the outage", "And another one"]
    assert len(w.telegram_mirrors()) == 2 == len(mirrors)


async def test_a_reply_whose_parent_has_no_mirror_quotes_it(bridged):
    w = bridged
    # Brittany's post never reaches Discord (the delivery fails for good) ...
    w.dc.fail_next("POST", r"/webhooks/", 403, {"message": "Missing Access", "code": 50001})
    original = w.tg.user_sends(w.group["id"], w.brittany, "Engaging youth\n\nAn example from Kenya.",
                               reply_to=w.root["message_id"])
    await w.dead_letters()
    # ... so a Telegram reply to it reaches Discord with a quoted pointer to post #2.
    w.tg.user_sends(w.group["id"], w.brittany, "Adding to my own example",
                    reply_to=original["message_id"])
    mirrored = await w.until(lambda: w.discord_mirrors())
    assert mirrored[-1]["content"].startswith("> ↪ Brittany Landorf (#2): Engaging youth")
