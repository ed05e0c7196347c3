"""The relay loses nothing: budgets, combined bursts, retries, dead letters, order."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.ratelimit import PlatformLimits, RateBudget, Window
from bridgebot.store import open_database

from .auxil.world import FACILITATOR, FORUM, person, started_rooms
from .test_settings_and_cli import bridgebot


def test_a_budget_waits_out_the_tightest_window():
    now = [100.0]
    budget = RateBudget({"telegram": PlatformLimits(per_target=(Window(1, 1.0), Window(3, 10.0)))},
                        clock=lambda: now[0])
    forum = FORUM.__class__("telegram", "-100")
    assert budget.wait_time(forum) == 0
    budget.record(forum)
    assert 1.0 <= budget.wait_time(forum) <= 1.1  # one per second
    for _ in range(2):
        now[0] += 1.1
        budget.record(forum)
    assert budget.wait_time(forum) > 7  # three per ten seconds: wait for the first to age out
    other = FORUM.__class__("telegram", "-200")
    assert budget.wait_time(other) == 0  # another chat has its own budget


async def test_a_burst_is_combined_into_few_messages_in_order_and_nothing_is_lost(tmp_path, db_setting):
    lounge = ConsoleAdapter(limits=PlatformLimits(per_target=(Window(1, 0.2),)), limit=4000)
    runtime = (await started_rooms(db_setting, root=tmp_path, adapter=lounge)).runtime
    try:
        await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Burst")
        await runtime.drain()
        for i in range(60):
            await lounge.say("forum", person(f"P{i % 7}"), f"reply number {i}")
        await runtime.drain(timeout=30)
        shown = [s.text for s in lounge.visible("lounge")][1:]
        numbers = [int(n) for text in shown for n in re.findall(r"#(\d+)", text)]
        assert numbers == list(range(2, 62)), "every post once, in order"
        assert len(shown) < 15, f"{len(shown)} messages for 60 posts"
        assert runtime.metrics.combined >= 45
        # A reply to a combined message answers the last post it holds.
        combined = next(s for s in lounge.visible("lounge") if s.text.count("#") > 1)
        last_number = int(re.findall(r"#(\d+)", combined.text)[-1])
        _, outcome = await lounge.say("lounge", person("Jessica"), "Answering the burst",
                                      reply_to=combined.message_id)
        parent = await runtime.store.post(outcome.post.parent_id)
        assert parent.number == last_number
    finally:
        await runtime.stop()


async def test_a_transient_failure_does_not_hold_up_other_targets(tmp_path, db_setting):
    from bridgebot.core import errors
    from bridgebot.core.relay import Backoff

    console = ConsoleAdapter()
    runtime = (await started_rooms(db_setting, root=tmp_path, rooms=("forum", "lounge", "kitchen"),
                                   adapter=console, relay_backoff=Backoff(0.4))).runtime
    try:
        await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Allies")
        await runtime.drain()
        original = console.deliver

        async def lounge_down(delivery):
            if delivery.target.chat_id == "lounge":
                raise errors.TransientError("502 Bad Gateway")
            return await original(delivery)

        console.deliver = lounge_down
        await console.say("forum", person("Brittany"), "An example")
        async with asyncio.timeout(10):  # not a fixed pause: a loaded machine takes longer
            while True:
                if console.visible("kitchen")[-1].text == "#2 An example":
                    break
                await asyncio.sleep(0.02)
        assert len(console.visible("lounge")) == 1, "the lounge is still down"
        console.deliver = original
        await runtime.drain()
        assert console.visible("lounge")[-1].text == "#2 An example"
        assert runtime.metrics.retried >= 1
    finally:
        await runtime.stop()


async def execute(database: Path | str, *statements: str) -> None:
    """Write rows as another program would (no bridgebot code path makes a dead delivery at
    once), in one transaction on the test's store."""
    db = open_database(database)
    await db.open()
    try:
        async with db.tx() as conn:
            for statement in statements:
                await conn.execute(statement)
    finally:
        await db.close()


def test_the_outbox_command_lists_retries_and_drops_dead_deliveries(tmp_path, db_setting):
    env = {"BRIDGEBOT_DATABASE": str(db_setting)}
    asyncio.run(execute(db_setting))  # the database the running bot made
    assert "every delivery went through" in bridgebot("outbox", cwd=tmp_path, env=env).stdout
    asyncio.run(execute(
        db_setting,
        "INSERT INTO topics (bridge, title, introduction, status, opened_by, opened_at) "
        "VALUES ('allies', 'T', '', 'open', 'K', '2026-11-29T10:00:00+00:00')",
        "INSERT INTO outbox (topic_id, action, platform, chat_id, state, attempts, "
        "last_error, created_at) VALUES (1, 'post', 'telegram', '-100', 'dead', 1, "
        "'Telegram chat -100: Forbidden: bot was kicked', '2026-11-29T10:00:00+00:00')"))
    listed = bridgebot("outbox", "--state", "dead", cwd=tmp_path, env=env).stdout
    assert "dead" in listed and "bot was kicked" in listed and "telegram:-100" in listed
    assert bridgebot("outbox", "retry", "1", cwd=tmp_path, env=env).returncode == 0
    assert "pending" in bridgebot("outbox", cwd=tmp_path, env=env).stdout
    again = bridgebot("outbox", "retry", "1", cwd=tmp_path, env=env)
    assert again.returncode == 1 and "not a dead delivery" in again.stderr
    assert bridgebot("outbox", "drop", "1", cwd=tmp_path, env=env).returncode == 0
    assert "every delivery went through" in bridgebot("outbox", cwd=tmp_path, env=env).stdout


async def test_a_message_written_in_a_thread_while_it_is_being_opened_is_not_lost(tmp_path, db_setting):
    """Someone writes in the new thread before the relay has recorded where the topic lives."""

    class EagerRooms(ConsoleAdapter):
        async def deliver(self, delivery):
            result = await super().deliver(delivery)
            if delivery.action.value == "open_topic" and delivery.target.chat_id == "lounge":
                early = asyncio.create_task(self.say("lounge", person("Quick"), "First!"))
                await asyncio.sleep(0.05)  # the message arrives before we return
                assert not early.done(), "it must wait for the topic's record"
            return result

    rooms = EagerRooms()
    runtime = (await started_rooms(db_setting, root=tmp_path, adapter=rooms)).runtime
    try:
        await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Fresh")
        await runtime.drain()
        for _ in range(50):
            if len(await runtime.store.posts(1)) == 2:
                break
            await asyncio.sleep(0.02)
        assert [p.text for p in await runtime.store.posts(1)] == ["", "First!"]
    finally:
        await runtime.stop()


async def test_a_topic_written_to_without_a_pause_still_gets_its_turns(tmp_path, db_setting):
    # The lounge settles (a topic still being written to waits for its posts while the
    # lounge's budget is the limit), but at most 0.6 s at a time: someone who never pauses
    # does not hold the topic's copies back until they stop.
    lounge = ConsoleAdapter(limits=PlatformLimits(per_target=(Window(1, 0.5),), settle=0.3,
                                                  settle_max=0.6), limit=4000)
    runtime = (await started_rooms(db_setting, root=tmp_path, adapter=lounge)).runtime
    try:
        await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Flood")
        await runtime.drain()
        opened = len(lounge.visible("lounge"))
        for i in range(30):  # a post every 0.1 s for 3 s
            await lounge.say("forum", person(f"P{i % 5}"), f"reply number {i}")
            await asyncio.sleep(0.1)
        shown_while_writing = len(lounge.visible("lounge")) - opened
        await runtime.drain(timeout=30)
        shown = [s.text for s in lounge.visible("lounge")][opened:]
        numbers = [int(n) for text in shown for n in re.findall(r"#(\d+)", text)]
        assert numbers == list(range(2, 32)), "every post once, in order"
        # Unbounded, nothing would show until the writer stops (tried: 0).
        assert shown_while_writing >= 2, "copies went out while the posts kept coming"
        assert len(shown) < 15, f"{len(shown)} messages for 30 posts: combined"
    finally:
        await runtime.stop()
