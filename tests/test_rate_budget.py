"""The send budget shared by the relay and the adapters: reservations, 429 holds, answers
sent again after ``retry_after``, and chats forgotten once idle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from bridgebot.core import errors
from bridgebot.core.models import ChannelRef
from bridgebot.core.ratelimit import ANSWER_PATIENCE, PRUNE_EVERY, PlatformLimits, RateBudget, Window

FORUM = ChannelRef("telegram", "-1001")
GROUP = ChannelRef("telegram", "-1002")


class FakeTime:
    """A clock whose sleeps advance it at once (so waits are measured, not waited)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def budget_with(time: FakeTime, *windows: Window) -> RateBudget:
    return RateBudget({"telegram": PlatformLimits(per_target=windows)}, clock=time.clock,
                      sleep=time.sleep)


async def test_acquire_reserves_so_two_senders_never_share_the_last_place():
    time = FakeTime()
    budget = budget_with(time, Window(1, 1.0))
    await asyncio.gather(budget.acquire(FORUM), budget.acquire(FORUM), budget.acquire(FORUM))
    assert time.now - 1000.0 >= 2.0, "three sends to one chat at one a second take two seconds"
    await budget.acquire(GROUP)  # another chat is not held up
    assert budget.wait_time(GROUP) > 0 and budget.wait_time(ChannelRef("telegram", "-9")) == 0


async def test_a_429_holds_the_chat_for_its_retry_after():
    time = FakeTime()
    budget = budget_with(time)  # no windows: only the hold counts
    budget.hold(FORUM, 7)
    assert budget.wait_time(FORUM) == pytest.approx(7)
    assert budget.wait_time(ChannelRef("telegram", "-1001", "55")) == pytest.approx(7), "any thread"
    assert budget.wait_time(GROUP) == 0
    await budget.acquire(FORUM)
    assert time.now == pytest.approx(1007)


async def test_an_answer_refused_with_429_is_sent_again_after_retry_after():
    time = FakeTime()
    budget = budget_with(time)
    sent: list[float] = []
    answers = iter([errors.RateLimited(30, "Telegram chat -1001: Too Many Requests"), None])

    async def call() -> None:
        outcome = next(answers)
        if outcome is not None:
            raise outcome
        sent.append(time.now)

    await budget.send(FORUM, call)
    await budget.settle()
    assert sent == [pytest.approx(1030)]
    assert budget.tracked() == 0 or budget.wait_time(FORUM) == 0


async def test_answers_to_one_chat_keep_their_order_behind_a_429():
    time = FakeTime()
    budget = budget_with(time)
    sent: list[str] = []
    refused = [True]

    def answer(text: str):
        async def call() -> None:
            if refused[0]:
                refused[0] = False
                raise errors.RateLimited(5)
            sent.append(text)
        return call

    await budget.send(FORUM, answer("first"))
    await budget.send(FORUM, answer("second"))  # waits behind the first, even if free
    await budget.send(GROUP, answer("elsewhere"))
    assert sent == ["elsewhere"]
    await budget.settle()
    assert sent == ["elsewhere", "first", "second"]


async def test_an_answer_is_given_up_only_with_a_log_line(caplog):
    time = FakeTime()
    budget = budget_with(time)

    async def blocked() -> None:
        raise errors.PermanentError("Telegram chat -1001: Forbidden: bot was blocked by the user")

    async def flooded() -> None:
        raise errors.RateLimited(ANSWER_PATIENCE / 3)

    with caplog.at_level(logging.INFO, logger="bridgebot.core.ratelimit"):
        await budget.send(FORUM, blocked)
        await budget.send(GROUP, flooded)
        await budget.settle()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("-1001" in w and "blocked" in w for w in warnings)
    assert any("-1002" in w and "gave up" in w for w in warnings)
    assert time.now - 1000 >= ANSWER_PATIENCE / 3 * 2, "kept trying for the patience it has"


def test_idle_chats_leave_the_budget():
    time = FakeTime()
    budget = budget_with(time, Window(1, 1.0), Window(20, 60.0))
    for i in range(3 * PRUNE_EVERY):
        budget.record(ChannelRef("telegram", str(i)))
        time.now += 1.0
        assert budget.tracked() <= PRUNE_EVERY + 63  # the last minute's chats, one sweep's worth
    time.now += 64  # past the longest window (60 s and its safety margin)
    budget.prune()
    assert budget.tracked() == 0
    assert budget.wait_time(ChannelRef("telegram", "5")) == 0 and budget.tracked() == 0, \
        "a look adds no entry"


async def test_topics_of_one_chat_take_turns_so_none_starves():
    time = FakeTime()
    budget = budget_with(time, Window(1, 1.0))
    sent: list[str] = []

    async def topic(name: str) -> None:
        for _ in range(3):
            await asyncio.sleep(0)  # the relay reads the topic's next row
            async with budget.turn(ChannelRef("telegram", "-1001", name)):
                sent.append(name)

    await asyncio.gather(topic("busy"), topic("quiet"), topic("third"))
    assert sent == ["busy", "quiet", "third"] * 3, "a topic that just sent waits behind the others"
    assert time.now - 1000.0 >= 8.0, "still one message a second in the chat"
    assert budget.tracked() <= 1, "no turn is kept once nobody waits"


async def test_each_discord_thread_has_its_own_channel_window_under_the_webhooks():
    time = FakeTime()
    budget = RateBudget({"discord": PlatformLimits(per_target=(Window(5, 2.0),),
                                                   per_thread=(Window(30, 60.0),))},
                        clock=time.clock, sleep=time.sleep)
    forum = ChannelRef("discord", "900")
    for _ in range(30):
        await budget.acquire(ChannelRef("discord", "900", "1"))
    assert budget.wait_time(ChannelRef("discord", "900", "1")) > 30, "that thread's minute is used"
    assert budget.wait_time(ChannelRef("discord", "900", "2")) < 2.5, "another thread only waits " \
        "for the webhook's 5 per 2 s"
    assert budget.wait_time(forum) == budget.wait_time(ChannelRef("discord", "900", "2"))


async def test_catch_up_reads_share_the_bots_global_window_but_no_chat_window():
    time = FakeTime()
    budget = RateBudget({"discord": PlatformLimits(per_target=(Window(5, 2.0),),
                                                   per_platform=(Window(2, 1.0),))},
                        clock=time.clock, sleep=time.sleep)
    for _ in range(4):
        await budget.acquire_read("discord")
    assert time.now - 1000.0 >= 1.0, "four reads at two a second take over a second"
    channel = ChannelRef("discord", "900")
    assert budget.wait_time(channel, scopes=("thread", "target")) == 0, "no message was sent"
    assert budget.wait_time(channel) > 0, "but sends wait for the reads' global window"


async def test_a_busy_group_is_paced_but_one_topic_keeps_its_burst():
    time = FakeTime()
    budget = RateBudget({"telegram": PlatformLimits(per_target=(Window(20, 60.0),),
                                                    paced=(Window(5, 15.0),))},
                        clock=time.clock, sleep=time.sleep)
    for _ in range(8):  # one topic alone: the minute's 20, at once
        async with budget.turn(ChannelRef("telegram", "-1001", "1")):
            pass
    assert time.now == 1000.0, "no pacing for a single stream"
    time.now += 100  # a fresh minute
    sent: list[float] = []

    async def topic(name: str) -> None:
        for _ in range(4):
            await asyncio.sleep(0)
            async with budget.turn(ChannelRef("telegram", "-1001", name)):
                sent.append(time.now)
                await asyncio.sleep(0)  # the send: the other topic queues meanwhile

    await asyncio.gather(topic("a"), topic("b"))
    assert sent[5] - sent[0] >= 15.0, "while two topics wait, five per fifteen seconds"


async def test_a_topic_still_being_written_to_lets_the_waiting_topics_go_first():
    time = FakeTime()
    budget = RateBudget({"discord": PlatformLimits(per_target=(Window(1, 1.0),), settle=1.0,
                                                   settle_max=3.0)},
                        clock=time.clock, sleep=time.sleep)
    asked: list[bool] = []
    sent: list[str] = []
    at: dict[str, float] = {}

    async def settle(pressed: bool) -> float:  # as the relay's: only a burst waits for more
        asked.append(pressed)
        return 0.5 if asked == [True] else 0.0  # one more post is on its way, then no more

    async def topic(name: str, settle: Callable[[bool], Awaitable[float]] | None = None) -> None:
        async with budget.turn(ChannelRef("discord", "900", name), settle):
            sent.append(name)
            at[name] = time.now
            await asyncio.sleep(0)  # the send: the other topic queues meanwhile

    async with budget.turn(ChannelRef("discord", "900", "quiet"), settle):
        pass
    assert asked == [False], "a chat its budget keeps up with: nothing waits for more"
    asked.clear()
    await asyncio.gather(topic("writing", settle), topic("other"))
    assert sent == ["other", "writing"], "the topic waiting for its posts let the other go first"
    assert asked == [True, True], "the webhook's place was taken: a burst"
    assert at["other"] - 1000.0 < 2 * 1.05, "nothing was reserved while it waited"
    assert at["writing"] - at["other"] == pytest.approx(1.05), "one send a second still"
    assert not budget.pressed(ChannelRef("telegram", "-1001")), "only platforms that settle"


async def test_a_turn_that_takes_the_chats_last_place_presses_it_though_nobody_waited():
    # discord.py waits out an emptied webhook bucket inside the send, until the platform's
    # window resets; that window starts when the request arrives, after the work between
    # the reservation and the send (longer on PostgreSQL or a loaded machine). Once that
    # work is longer than the safety margin, the next turn finds the budget's window open
    # again and waits for nothing: the burst must still count as one.
    time = FakeTime()
    budget = RateBudget({"discord": PlatformLimits(per_target=(Window(2, 1.0),), settle=1.0,
                                                   settle_max=3.0)},
                        clock=time.clock, sleep=time.sleep)
    asked: list[bool] = []

    async def settle(pressed: bool) -> float:
        asked.append(pressed)
        return 0.0

    async def send(thread: str) -> None:
        async with budget.turn(ChannelRef("discord", "900", thread), settle):
            time.now += 0.2  # building the message, recording the attempt
            # The platform's window began when this arrived; the send that empties it
            # returns when it resets.
            if thread == "b":
                time.now = 1000.2 + 1.0

    await send("a")
    assert asked == [False] and not budget.pressed(ChannelRef("discord", "900"))
    await send("b")  # the webhook's last place in this window
    await send("c")
    assert time.slept == [], "no turn waited for the budget"
    assert asked == [False, False, True], "the next turn comes in a burst"
    assert not budget.pressed(ChannelRef("discord", "901")), "another channel is not pressed"
