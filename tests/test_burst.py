"""A lively discussion does not fall behind: 300 replies in a few seconds, inside the limits."""

from __future__ import annotations

import asyncio
import re

import pytest

from .conftest import Build

POSTS = 300


def post_numbers(messages: list[dict], key: str) -> list[int]:
    return [int(n) for m in messages for n in re.findall(r"(?:· |-# )#(\d+)", m.get(key, ""))]


@pytest.mark.timeout(120)
async def test_300_telegram_replies_reach_discord_in_order_in_few_messages(build: Build):
    # The platforms' real budgets: flood control on in the fakes, published limits in the adapters.
    w = await build(rate_limits=True)
    tg, dc, runtime, group, channel = w.tg, w.dc, w.runtime, w.group, w.channel
    assert tg is not None and dc is not None
    people = [tg.add_user(f"Participant{i}") for i in range(20)]
    tg.user_sends(group["id"], w.kristin.tg, "/newtopic Burst\nReply as fast as you can.")

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
