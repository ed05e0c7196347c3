"""A published plan runs on its schedule: on time, in order, exactly once across restarts."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.models import Action
from bridgebot.core.schedule import Scheduler, publish
from bridgebot.core.service import Bridge, Discussions
from bridgebot.core.topicfile import load_topic_file, parse_topic_text
from bridgebot.runtime import Runtime
from bridgebot.store import open_database, sqlite_storage
from bridgebot.store.repo import Store

from ..auxil.world import FACILITATOR, FORUM, LOUNGE, START, Clock, allies, started_rooms
from .test_topic_files import EXAMPLE

CHICAGO_9AM = [datetime(2027, 3, day, 14, 0, tzinfo=UTC) for day in (22, 23, 24, 25)]
LOCK_TIME = datetime(2027, 3, 26, 22, 0, tzinfo=UTC)  # Friday 17:00 in Chicago


def console_plan(bridge: str = "allies") -> str:
    """The example topic file, on the console bridge of the shared fixtures."""
    return EXAMPLE.read_text(encoding="utf-8").replace('bridge = "allies"', f'bridge = "{bridge}"')


async def console_runtime(database: Path | str, clock: Clock,
                          root: Path) -> tuple[Runtime, ConsoleAdapter]:
    world = await started_rooms(database, clock=clock, schedule_recheck=0.2, root=root)
    assert world.console is not None
    return world.runtime, world.console


async def publish_text(runtime: Runtime, text: str, clock: Clock):
    topic, _ = parse_topic_text(text, source="allies.toml", default_name="allies", now=clock())
    result = await publish(runtime.core, topic, clock())
    await runtime.scheduler.poke()
    await runtime.drain()
    return result


async def step(runtime: Runtime, clock: Clock, when: datetime) -> None:
    clock.set(when)
    await runtime.scheduler.poke()
    await runtime.drain()


def bot_lines(console: ConsoleAdapter, room: str = "forum") -> list[str]:
    return [s.text.splitlines()[0] for s in console.visible(room) if s.author == "bridgebot"]


async def test_a_plan_opens_drips_questions_posts_a_digest_and_locks_on_time(tmp_path, db_setting):
    clock = Clock(START)
    runtime, console = await console_runtime(db_setting, clock, tmp_path)
    try:
        await publish_text(runtime, console_plan(), clock)
        assert await runtime.store.topics() == [], "not before Monday 09:00 in Chicago"
        await step(runtime, clock, CHICAGO_9AM[0] - timedelta(seconds=1))
        assert await runtime.store.topics() == []
        await step(runtime, clock, CHICAGO_9AM[0])
        topic = (await runtime.store.topics())[0]
        assert topic.opened_by == "Kristin Antin" and topic.opened_at == CHICAGO_9AM[0]
        assert bot_lines(console) == [f"Topic #1: {topic.title}", "Question 1: Share examples of "
                                      "times that you’ve engaged allies perceived as non "
                                      "traditional. How were these allies identified? How were "
                                      "they approached? What did the partnership look like?"]
        await step(runtime, clock, CHICAGO_9AM[1] + timedelta(minutes=1))
        assert bot_lines(console, "lounge")[-1].startswith("Question 2: What challenges")
        assert len(await runtime.store.prompts(1)) == 2, "question 3 waits for Wednesday"
        await step(runtime, clock, CHICAGO_9AM[2])
        assert bot_lines(console)[-1] == "Question 3: What was the impact?"
        await step(runtime, clock, CHICAGO_9AM[3])
        assert bot_lines(console)[-1] == "📋 Digest: “How have you engaged allies perceived as non " \
                                         "traditional? Share your examples!”"
        await step(runtime, clock, LOCK_TIME - timedelta(minutes=1))
        assert not (await runtime.store.topic(1)).is_locked
        await step(runtime, clock, LOCK_TIME)
        locked = await runtime.store.topic(1)
        assert locked.is_locked and locked.locked_by == "Kristin Antin"
        assert locked.locked_at == LOCK_TIME and locked.lock_reason.startswith("Thank you all")
        assert bot_lines(console, "lounge")[-1].startswith("Topic locked: Thank you all")
        plan = (await runtime.core.facilitation.plans())[0]
        items = await runtime.core.facilitation.items(plan.id)
        assert [i.outcome for i in items] == ["opened", "posted", "posted", "posted", "posted",
                                              "locked"]
    finally:
        await runtime.stop()


async def test_a_restart_across_a_due_question_posts_it_exactly_once(tmp_path, db_setting):
    clock = Clock(CHICAGO_9AM[0] + timedelta(hours=1))
    runtime, _ = await console_runtime(db_setting, clock, tmp_path)
    try:
        await publish_text(runtime, console_plan(), clock)
        assert len(await runtime.store.prompts(1)) == 1
    finally:
        await runtime.stop()
    # The bot is down on Tuesday morning, when question 2 was due; it starts at noon.
    clock.set(CHICAGO_9AM[1] + timedelta(hours=3))
    for _restart in range(2):
        runtime, _ = await console_runtime(db_setting, clock, tmp_path)
        try:
            await runtime.scheduler.poke()
            await runtime.drain()
            questions = [p.question for p in await runtime.store.prompts(1)]
            assert len(questions) == 2 and questions[1].startswith("What challenges")
        finally:
            await runtime.stop()
    outbox = await runtime_outbox(db_setting)
    assert outbox.count(Action.PROMPT) == 2 * 2, "two questions, one delivery per room each"


async def runtime_outbox(database: Path | str) -> list[Action]:
    db = open_database(database)
    await db.open()
    try:
        return [e.action for e in await Store(db).outbox()]
    finally:
        await db.close()


async def test_after_a_long_downtime_every_due_step_happens_once_in_order(tmp_path, db_setting):
    clock = Clock(START)
    runtime, _ = await console_runtime(db_setting, clock, tmp_path)
    try:
        await publish_text(runtime, console_plan(), clock)
    finally:
        await runtime.stop()
    clock.set(LOCK_TIME + timedelta(days=2))
    runtime, console = await console_runtime(db_setting, clock, tmp_path)
    try:
        await runtime.scheduler.poke()
        await runtime.drain()
        assert [line.split(":")[0] for line in bot_lines(console)] == [
            "Topic #1", "Question 1", "Question 2", "Question 3", "📋 Digest", "Topic locked"]
    finally:
        await runtime.stop()


async def test_two_bots_on_one_database_carry_out_each_step_once(tmp_path, db_setting):
    clock = Clock(START)
    runtime, _ = await console_runtime(db_setting, clock, tmp_path)
    await publish_text(runtime, console_plan(), clock)
    await runtime.stop()
    clock.set(CHICAGO_9AM[2])
    bridges = [Bridge("allies", (FORUM, LOUNGE))]
    dbs = [open_database(db_setting), open_database(db_setting)]
    for db in dbs:
        await db.open()
    try:
        schedulers = [Scheduler(Discussions(sqlite_storage(db), bridges, clock=clock)) for db in dbs]
        done = await asyncio.gather(*(s.run_due() for s in schedulers))
        assert sum(len(d) for d in done) == 4, "the topic and its three questions, once each"
        assert len(await Store(dbs[0]).prompts(1)) == 3
        assert len(await Store(dbs[0]).topics()) == 1
    finally:
        for db in dbs:
            await db.close()


async def test_a_question_due_after_an_early_lock_is_not_posted(tmp_path, db_setting):
    clock = Clock(CHICAGO_9AM[0])
    runtime, _ = await console_runtime(db_setting, clock, tmp_path)
    try:
        await publish_text(runtime, console_plan(), clock)
        ctx = CommandContext(FACILITATOR, FORUM, platform_admin=True)
        assert "now locked" in await run_command(runtime.core, ctx, "lock", "Closed early")
        await step(runtime, clock, CHICAGO_9AM[1])
        assert len(await runtime.store.prompts(1)) == 1
        items = await runtime.core.facilitation.items(1)
        assert items[2].outcome.startswith("skipped:") and "already locked" in items[2].outcome
        await step(runtime, clock, LOCK_TIME)
        topic = await runtime.store.topic(1)
        assert topic.lock_reason == "Closed early", "the scheduled lock changes nothing"
        assert (await runtime.core.facilitation.items(1))[-1].outcome == "already locked"
    finally:
        await runtime.stop()


async def test_republishing_keeps_what_happened_and_replaces_what_is_to_come(tmp_path, db_setting):
    clock = Clock(CHICAGO_9AM[0])
    runtime, _ = await console_runtime(db_setting, clock, tmp_path)
    try:
        await publish_text(runtime, console_plan(), clock)
        fixed = console_plan().replace('"What was the impact?"', '"What was the impact, so far?"')
        result = await publish_text(runtime, fixed, clock)
        assert result.replaced and result.kept_done == 2 and result.plan.topic_id == 1
        await step(runtime, clock, CHICAGO_9AM[2])
        questions = [p.question for p in await runtime.store.prompts(1)]
        assert len(questions) == 3 and questions[2] == "What was the impact, so far?"
        assert len(await runtime.store.topics()) == 1, "the topic is not opened twice"
    finally:
        await runtime.stop()


async def test_a_publish_from_another_process_is_picked_up_by_the_running_bot(tmp_path, db_setting):
    clock = Clock(CHICAGO_9AM[0] + timedelta(minutes=5))
    runtime, console = await console_runtime(db_setting, clock, tmp_path)
    try:
        other = open_database(db_setting)  # what `bridgebot topic publish` does, elsewhere
        await other.open()
        try:
            topic, _ = load_topic_file(EXAMPLE, now=clock())
            await publish(Discussions(sqlite_storage(other), []), topic, clock())
        finally:
            await other.close()
        async with asyncio.timeout(5):  # no poke: the bot re-reads the plan table by itself
            while not console.visible("forum"):
                await asyncio.sleep(0.05)
                await runtime.drain()
        assert bot_lines(console)[0].startswith("Topic #1: How have you engaged allies")
    finally:
        await runtime.stop()


async def test_a_plan_for_a_bridge_this_bot_does_not_link_waits_and_says_so_once(tmp_path, db_setting,
                                                                                   caplog):
    clock = Clock(CHICAGO_9AM[0])
    runtime, _ = await console_runtime(db_setting, clock, tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="bridgebot.core.schedule"):
            await publish_text(runtime, console_plan("climate"), clock)
            await runtime.scheduler.poke()
            await runtime.scheduler.poke()
        assert await runtime.store.topics() == []
        warnings = [r.getMessage() for r in caplog.records if "not configured" in r.getMessage()]
        assert warnings == ["bridge 'climate' of “How have you engaged allies perceived as non "
                            "traditional? Share your examples!” is not configured in this bot's "
                            "settings; its schedule waits"]
        items = await runtime.core.facilitation.items(1)
        assert not any(i.is_done for i in items)
    finally:
        await runtime.stop()


async def test_a_scheduled_topic_runs_on_telegram_and_discord(tmp_path, db_setting, clock):
    clock.set(START)
    async with allies(tmp_path, database=db_setting, clock=clock, schedule_recheck=0.2) as w:
        topic_file, _ = load_topic_file(EXAMPLE, bridges={"allies"}, now=clock())
        await publish(w.runtime.core, topic_file, clock())
        await step(w.runtime, clock, CHICAGO_9AM[0])
        await w.until(lambda: len(w.discord_texts()) >= 1)
        assert w.bot_texts()[0].startswith("How have you engaged allies perceived as non traditional")
        assert w.bot_texts()[1].startswith("❓ Question 1\n\nShare examples")
        assert w.discord_texts()[0].startswith("❓ **Question 1**")
        starter = w.dc.channel_messages(w.channel["id"])[0]["content"]
        assert starter.startswith("## How have you engaged allies perceived as non traditional")
        await step(w.runtime, clock, CHICAGO_9AM[1])
        await w.until(lambda: len(w.discord_texts()) >= 2)
        assert "❓ Question 2" in w.bot_texts()[-1] and "Question 2" in w.discord_texts()[-1]
        assert not any("Question 3" in t for t in w.bot_texts() + w.discord_texts())
        await step(w.runtime, clock, CHICAGO_9AM[2])
        await step(w.runtime, clock, CHICAGO_9AM[3])
        await w.until(lambda: any("Digest" in t for t in w.discord_texts()))
        await step(w.runtime, clock, LOCK_TIME)
        await w.until(lambda: w.dc.channel(w.thread["id"])["thread_metadata"]["locked"])
        assert w.bot_texts()[-1].startswith("🔒 Topic locked: Thank you all for sharing")
        assert [t.split("\n")[0] for t in w.bot_texts()[2:5]] == [
            "❓ Question 2", "❓ Question 3", "📋 Digest: “How have you engaged allies perceived as "
            "non traditional? Share your examples!”"]
