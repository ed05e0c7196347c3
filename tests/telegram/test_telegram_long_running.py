"""Months of running through the real Telegram adapter: nothing in memory grows with the
number of chats that ever wrote to the bot, and no answer is lost to a 429."""

from __future__ import annotations

import asyncio

import pytest

from bridgebot.core.ratelimit import PRUNE_EVERY, PlatformLimits, Window
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import telegram_adapter
from bridgebot.sandbox.telegram import RateLimits

from ..auxil.world import TELEGRAM_UNLIMITED, World, person

VISITORS = 250  # each writes from an unbridged group and from a private chat: 500 chats


def ptb_sets(world: World) -> int:
    """What python-telegram-bot's Application keeps per chat and per user."""
    app = world.runtime.adapters["telegram"].app
    assert app is not None
    return (len(app._chat_ids_to_be_updated_in_persistence)
            + len(app._user_ids_to_be_updated_in_persistence)
            + len(app.chat_data) + len(app.user_data))


@pytest.mark.timeout(120)
async def test_500_unbridged_and_private_chats_leave_the_maps_bounded(world: World):
    tg, runtime = world.tg, world.runtime
    # One message a second per chat, as Telegram allows: every answer goes through the
    # budget, which must forget chats that fell silent.
    runtime.budget.add("telegram", PlatformLimits(per_target=(Window(1, 1.0),), max_length=4096))
    world.tg.user_sends(world.forum["id"], world.kristin.tg, "/newtopic Allies\nWho helps?")
    await world.settle()
    locks_before = len(runtime.core._chat_locks)
    largest_budget = 0
    for i in range(VISITORS):
        visitor = tg.add_user(f"Visitor{i}")
        elsewhere = tg.add_chat(f"Elsewhere {i}", owner=visitor)
        tg.user_sends(elsewhere["id"], visitor, f"hello from elsewhere {i}")
        tg.user_sends(elsewhere["id"], visitor, "/status")
        private = tg.private_chat(visitor)
        tg.user_sends(private["id"], visitor, "/status")
        if i % 10 == 9:
            await world.settle()
            largest_budget = max(largest_budget, runtime.budget.tracked())
    await world.settle()

    answered = {c.params["chat_id"] for c in tg.calls_to("sendMessage") if c.status == 200}
    assert len(answered) >= 2 * VISITORS, "every chat got its answer"
    assert len(runtime.core._chat_locks) == locks_before <= len(runtime.core.channels())
    assert ptb_sets(world) == 0
    assert len(runtime.store._thread_topics) <= 1  # the one open topic's forum thread
    assert largest_budget < 2 * PRUNE_EVERY  # chats of the last minute + one sweep's worth
    await asyncio.sleep(1.1)  # every chat's one-second window is over
    runtime.budget.prune()
    assert runtime.budget.tracked() == 0
    assert len(runtime.core._opening) == 0 and len(runtime.core._marker_writes) == 0


async def test_a_locked_topics_thread_leaves_the_thread_map(world: World):
    tg, runtime = world.tg, world.runtime
    tg.user_sends(world.forum["id"], world.kristin.tg, "/newtopic Allies\nWho helps?")
    await world.settle()
    thread = next(t["message_thread_id"] for t in tg.topics(world.forum["id"]))
    tg.user_sends(world.forum["id"], world.brittany.tg, "Youth groups.", thread_id=thread)
    await world.settle()
    assert list(runtime.store._thread_topics.values()) == [1]

    tg.user_sends(world.forum["id"], world.kristin.tg, "/lock", thread_id=thread)
    await world.settle()
    assert runtime.store._thread_topics == {}
    # Only admins may still write in a closed forum topic.
    late = tg.user_sends(world.forum["id"], world.kristin.tg, "One more thing", thread_id=thread)
    await world.settle()
    assert runtime.store._thread_topics == {}, "a locked topic is not remembered again"
    refusals = [m for m in tg.chat_messages(world.forum["id"], thread)
                if m.get("from", {}).get("is_bot") and "locked" in m.get("text", "")
                and m.get("reply_to_message", {}).get("message_id") == late["message_id"]]
    assert len(refusals) == 1, "the locked topic still answers from the database"


async def test_a_status_answer_refused_with_429_still_arrives(world: World):
    tg = world.tg
    tg.user_sends(world.forum["id"], world.kristin.tg, "/newtopic Allies\nWho helps?")
    await world.settle()
    # Telegram's flood control answers the next sendMessage: ok=false, error_code 429,
    # parameters.retry_after (the Bot API's ResponseParameters).
    tg.fail_next("sendMessage", retry_after=1)
    asked = tg.user_sends(world.group["id"], world.brittany.tg, "/status")
    await tg.wait_for(lambda: any(
        m.get("reply_to_message", {}).get("message_id") == asked["message_id"]
        for m in tg.chat_messages(world.group["id"])), timeout=10)

    refused = [c for c in tg.calls_to("sendMessage") if c.status == 429]
    assert len(refused) == 1
    assert refused[0].response["parameters"] == {"retry_after": 1}
    answers = [m for m in tg.chat_messages(world.group["id"])
               if m.get("reply_to_message", {}).get("message_id") == asked["message_id"]]
    assert len(answers) == 1, "the answer arrives once"
    assert "“Allies”" in answers[0]["text"] and "1 post" in answers[0]["text"]
    sent = next(c for c in tg.calls_to("sendMessage") if c.status == 200
                and c.params.get("chat_id") == world.group["id"]
                and c.response["result"]["message_id"] == answers[0]["message_id"])
    assert sent.at - refused[0].at >= 1.0, "sent again only after retry_after"


async def test_answers_wait_out_a_429_in_order_without_holding_up_other_chats(
        tmp_path, world: World):
    """Two answers to one chat behind a long 429 keep their order; another chat is answered
    meanwhile (the wait happens in the background, not in the intake loop)."""
    tg = world.tg
    tg.user_sends(world.forum["id"], world.kristin.tg, "/newtopic Allies\nWho helps?")
    await world.settle()
    tg.fail_next("sendMessage", retry_after=3)
    first = tg.user_sends(world.group["id"], world.brittany.tg, "/help")
    second = tg.user_sends(world.group["id"], world.jessica.tg, "/status")
    elsewhere = tg.user_sends(world.forum["id"], world.jessica.tg, "/status")

    def answered(message: dict, chat: dict) -> list[dict]:
        return [m for m in tg.chat_messages(chat["id"])
                if m.get("reply_to_message", {}).get("message_id") == message["message_id"]]

    await tg.wait_for(lambda: answered(elsewhere, world.forum), timeout=2.5)
    assert not answered(first, world.group), "still waiting out the 429"
    await tg.wait_for(lambda: answered(second, world.group), timeout=10)
    assert answered(first, world.group)[0]["message_id"] < answered(second, world.group)[0]["message_id"]


async def test_the_runtime_shares_one_budget_with_every_adapter(world: World):
    runtime = Runtime(":memory:", [])  # never opened: no database of either store is needed
    adapter = telegram_adapter(world.tg, world.tg.add_bot(username="other_bot"),
                               limits=TELEGRAM_UNLIMITED)
    runtime.add_adapter(adapter)
    assert adapter.budget is runtime.budget
    assert runtime.budget.limits["telegram"] is adapter.limits



def group_sends(world: World, since: int = 0) -> list:
    return [c for c in world.tg.calls_to("sendMessage")[since:]
            if int(c.params.get("chat_id", 0)) == world.group["id"]]


async def test_a_long_post_is_paced_piece_by_piece_and_no_piece_is_sent_twice(build):
    """A long post takes several Telegram messages: each piece waits for the chat's budget,
    and a 429 on a later piece is waited out and that piece sent again, never the whole
    post from its first piece."""
    world = await build(telegram=("group",), discord=(), console=("forum",), rate_limits=True)
    await world.open_topic()
    # Telegram slower than its published rate (one message every 2 s, no burst): the second
    # piece, paced at 1 s, is refused with a 429.
    world.tg.rate_limiter.limits = RateLimits(per_chat_burst=1, per_chat_per_second=0.5)
    long_text = "\n\n".join(f"Paragraph {i}: " + "allies and community " * 60 for i in range(4))
    before = len(world.tg.calls_to("sendMessage"))
    await world.say(person("Jessica"), long_text)
    sent = group_sends(world, before)
    shown = [c for c in sent if c.status == 200]
    assert [c.status for c in sent].count(429) == 1
    assert len(shown) == 2, "two messages, no piece twice"
    first, second = (c.response["result"]["text"] for c in shown)
    assert "Paragraph 0" in first and "Paragraph 3" in second
    assert shown[1].at - shown[0].at >= 1.0, "paced, not sent back to back"
