"""Many topics at once in one forum: each topic is its own stream, in order, and a burst is
combined per topic inside Discord's real buckets."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import pytest

from bridgebot.adapters.discord.adapter import DiscordAdapter

from .auxil.hold import HoldFirst
from .conftest import Build

TOPICS = 10
POSTS_EACH = 10


def tokens(messages: list[dict]) -> list[tuple[int, int]]:
    """The (topic, post) marks the mirrored messages carry, in the order shown."""
    return [(int(t), int(p)) for m in messages for t, p in re.findall(r"t(\d+)p(\d+)", m["content"])]

@pytest.mark.timeout(90)
async def test_a_ten_topic_burst_into_one_forum_channel_is_combined_per_topic_in_order(
        build: Build):
    w = await build(telegram=("forum",), discord=("forum",))
    for i in range(TOPICS):
        w.tg.user_sends(w.forum["id"], w.kristin.tg, f"/newtopic Topic {i}\nWhat do you think?")
        await w.until(lambda n=i + 1: len(w.dc.threads(w.forum_channel["id"])) == n
                      and len(w.tg.topics(w.forum["id"])) == n)
    threads = {t["name"]: t["id"] for t in w.dc.threads(w.forum_channel["id"])}
    places = {t["name"]: t["message_thread_id"] for t in w.tg.topics(w.forum["id"])}
    # From here on Discord counts as it does for real, and the bot keeps to the shipped budget.
    w.dc.enforce_rate_limits = True
    w.runtime.budget.add("discord", DiscordAdapter.limits)
    # The first post's copy is held on its way (and the forum's turn with it) while the
    # others are taken in: which posts wait for a turn then depends neither on the store
    # nor on the machine's load (taken in over seconds, as on a loaded machine, the first
    # turns each carried the few posts there were).
    hold = HoldFirst(w.runtime.adapters["discord"], w.forum_channel["id"])
    people = [w.brittany.tg, w.jessica.tg, w.quiet.tg]
    for p in range(POSTS_EACH):  # the topics' posts interleave, as in a lively forum
        for t in range(TOPICS):
            w.tg.user_sends(w.forum["id"], people[(p + t) % 3], f"t{t}p{p} my view",
                            thread_id=places[f"Topic {t}"])
            if (p, t) == (0, 0):
                await hold.started()
        await asyncio.sleep(0.05)
    topic_ids = [topic.id for topic in await w.runtime.store.topics()]
    assert len(topic_ids) == TOPICS
    async with asyncio.timeout(30):  # each topic: its question and the posts
        while True:
            if all([len(await w.runtime.store.posts(i)) == POSTS_EACH + 1 for i in topic_ids]):
                break
            await asyncio.sleep(0.05)
    hold.release()

    def carried() -> bool:
        return all(len(tokens(w.mirrors(threads[f"Topic {t}"]))) >= POSTS_EACH
                   for t in range(TOPICS))

    await w.until(carried, timeout=60)
    messages = 0
    for t in range(TOPICS):
        mirrored = w.mirrors(threads[f"Topic {t}"])
        assert tokens(mirrored) == [(t, p) for p in range(POSTS_EACH)], "each once, in order"
        messages += len(mirrored)
    total = TOPICS * POSTS_EACH
    # One message per topic for all its posts, however they interleave in the outbox; the
    # held topic's first post went alone. One message per post would be 100.
    assert messages == TOPICS + 1, f"{messages} messages for {total} posts"
    assert w.dc.stats.too_many_requests == 0
    assert w.runtime.metrics.rate_limited == 0


@pytest.mark.timeout(60)
async def test_topics_still_being_written_to_during_a_burst_wait_for_their_posts(
        build: Build, monkeypatch: pytest.MonkeyPatch):
    # Three topics answered every 0.4 s for about 3 s: more than the forum's webhook (5 per
    # 2 s) carries one by one, so the bridge falls behind and combines. A topic whose posts
    # keep coming waits for them (a second's pause, at most 3 s) instead of sending what
    # is there when its turn comes and leaving the rest to messages of their own.
    topics, rounds = 3, 8
    w = await build(telegram=("forum",), discord=("forum",))
    # Between a turn's reservation and its send, the attempt is recorded: here it takes
    # 0.15 s, as on PostgreSQL on a loaded machine, more than the budget's safety margin.
    # The webhook's window then starts that much later than the budget's, discord.py waits
    # the rest of it out inside the send that empties the bucket, and no turn waits for the
    # budget: the burst must count as one all the same (it did not: 10-13 messages).
    record_attempt = w.runtime.core.outbox.mark_attempt

    async def slow_record(delivery_ids: Sequence[int]) -> None:
        await asyncio.sleep(0.15)
        await record_attempt(delivery_ids)

    monkeypatch.setattr(w.runtime.core.outbox, "mark_attempt", slow_record)
    for i in range(topics):
        w.tg.user_sends(w.forum["id"], w.kristin.tg, f"/newtopic Topic {i}\nWhat do you think?")
        await w.until(lambda n=i + 1: len(w.dc.threads(w.forum_channel["id"])) == n
                      and len(w.tg.topics(w.forum["id"])) == n)
    threads = {t["name"]: t["id"] for t in w.dc.threads(w.forum_channel["id"])}
    places = {t["name"]: t["message_thread_id"] for t in w.tg.topics(w.forum["id"])}
    await w.runtime.drain(10)
    w.dc.enforce_rate_limits = True
    w.runtime.budget.add("discord", DiscordAdapter.limits)
    people = [w.brittany.tg, w.jessica.tg, w.quiet.tg]
    for p in range(rounds):
        for t in range(topics):
            w.tg.user_sends(w.forum["id"], people[(p + t) % 3], f"t{t}p{p} my view",
                            thread_id=places[f"Topic {t}"])
        await asyncio.sleep(0.4)
    # Kristin locks the first topic while its last posts still wait for their turn.
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "/lock", thread_id=places["Topic 0"])

    def carried() -> bool:
        return all(len(tokens(w.mirrors(threads[f"Topic {t}"]))) >= rounds
                   for t in range(topics)) and any(
            "Topic locked" in m.get("content", "")
            for m in w.dc.channel_messages(threads["Topic 0"]))

    await w.until(carried, timeout=30)
    messages = 0
    for t in range(topics):
        mirrored = [m for m in w.mirrors(threads[f"Topic {t}"]) if tokens([m])]
        assert tokens(mirrored) == [(t, p) for p in range(rounds)], "each once, in order"
        messages += len(mirrored)
    shown = w.dc.channel_messages(threads["Topic 0"])
    locked_at = next(i for i, m in enumerate(shown) if "Topic locked" in m.get("content", ""))
    assert all(i < locked_at for i, m in enumerate(shown) if tokens([m])), \
        "the lock never overtakes the last post"
    # The webhook's first five places go to the first posts as they come (nothing is behind
    # yet); after that each topic waits until its posts pause: one more message each (one
    # to spare for a round that came late on a loaded machine). Taking what is there when
    # the turn comes, it was 13.
    assert messages <= 5 + topics + 1, f"{messages} messages for {topics * rounds} posts"
    assert w.dc.stats.too_many_requests == 0
