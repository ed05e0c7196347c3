"""A lively discussion does not fall behind: 300 replies in a few seconds, inside the limits."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.discord import FakeDiscord
from bridgebot.sandbox.telegram import FakeTelegram

from .discord.conftest import make_adapter as make_discord
from .telegram.conftest import make_adapter as make_telegram

POSTS = 300


def post_numbers(messages: list[dict], key: str) -> list[int]:
    return [int(n) for m in messages for n in re.findall(r"(?:· |-# )#(\d+)", m.get(key, ""))]


@pytest.mark.timeout(120)
async def test_300_telegram_replies_reach_discord_in_order_in_few_messages(tmp_path: Path):
    async with (FakeTelegram(enforce_rate_limits=True) as tg,
                FakeDiscord(heartbeat_interval_ms=500, enforce_rate_limits=True) as dc):
        tg_token = tg.add_bot(username="bridgebot_test_bot")
        kristin = tg.add_user("Kristin", "Antin")
        group = tg.add_chat("Allies", owner=kristin)
        people = [tg.add_user(f"Participant{i}") for i in range(20)]
        dc_token = dc.add_bot("bridgebot")
        guild = dc.add_guild("New Tactics")
        channel = dc.add_text_channel(guild["id"], "allies")
        bridge = Bridge("allies", (ChannelRef("telegram", str(group["id"])),
                                   ChannelRef("discord", channel["id"])))
        runtime = Runtime(tmp_path / "bridgebot.sqlite3", [bridge])
        # The platforms' real budgets (limits=None keeps each adapter's published limits).
        runtime.add_adapter(make_telegram(tg, tg_token, limits=None))
        runtime.add_adapter(make_discord(dc, dc_token, guild["id"], limits=None))
        await runtime.start()
        try:
            tg.user_sends(group["id"], kristin, "/newtopic Burst\nReply as fast as you can.")
            def topic_root() -> dict | None:  # the topic's message in the Telegram group
                return next((m for m in tg.chat_messages(group["id"])
                             if m.get("from", {}).get("is_bot")
                             and m.get("text", "").startswith("Burst")), None)

            # Both places: the answer to /newtopic and the topic share the group's budget.
            async with asyncio.timeout(15):
                while True:
                    if (dc.threads(channel["id"]) and len(await runtime.store.topic_places(1)) == 2
                            and topic_root() is not None):
                        break
                    await asyncio.sleep(0.05)
            thread = dc.threads(channel["id"])[0]
            root = topic_root()
            assert root is not None
            started = asyncio.get_running_loop().time()
            for i in range(POSTS):
                tg.user_sends(group["id"], people[i % 20], f"reply {i}", reply_to=root["message_id"])
                if i % 30 == 29:
                    await asyncio.sleep(0.3)  # 300 replies over about 3 seconds
            mirrored: list[dict] = []
            async with asyncio.timeout(90):
                while True:
                    mirrored = [m for m in dc.channel_messages(thread["id"]) if m.get("webhook_id")]
                    if len(post_numbers(mirrored, "content")) >= POSTS:
                        break
                    await asyncio.sleep(0.1)
            elapsed = asyncio.get_running_loop().time() - started
            assert post_numbers(mirrored, "content") == list(range(2, POSTS + 2)), "each once, in order"
            assert len(mirrored) <= POSTS // 10, f"{len(mirrored)} messages for {POSTS} posts"
            assert dc.stats.too_many_requests <= 1
            assert tg.stats.too_many_requests == 0
            assert runtime.metrics.rate_limited <= 1
            # At Discord's 30 messages a minute, one message per post would take 10 minutes.
            assert elapsed < 60
        finally:
            await runtime.stop()
            reset_api_base()
