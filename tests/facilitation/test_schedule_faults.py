"""A scheduled step and its "done" mark share one unit of work: a storage failure between
them loses neither and repeats neither (on both stores)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bridgebot.core.models import Author, TopicStatus
from bridgebot.core.schedule import publish
from bridgebot.core.service import Bridge
from bridgebot.core.topicfile import parse_topic_text
from bridgebot.runtime import Runtime
from bridgebot.store import open_database, storage_for

from ..auxil.world import FORUM, LOUNGE, START, Clock
from .test_schedule import CHICAGO_9AM, console_plan


def disk_failure(store: str) -> Exception:
    """What each store raises when its disk fails under a write."""
    if store == "sqlite":
        return sqlite3.OperationalError("disk I/O error")
    return asyncpg.exceptions.DiskFullError("could not extend file")


async def test_a_storage_failure_after_the_claim_leaves_the_question_to_come(
        store: str, db_setting: Path | str, monkeypatch: pytest.MonkeyPatch):
    clock = Clock(START)
    runtime = Runtime(db_setting, [Bridge("allies", (FORUM, LOUNGE))], clock=clock)
    await runtime.open()  # the scheduler's passes are run by hand: no adapters, no relay
    try:
        topic, _ = parse_topic_text(console_plan(), source="allies.toml", default_name="allies",
                                    now=clock())
        plan = (await publish(runtime.core, topic, clock())).plan
        clock.set(CHICAGO_9AM[0])
        assert await runtime.scheduler.run_due() == [
            f"opened “{topic.title}”", f"question 1 of “{topic.title}” posted"]

        real_add_prompt = runtime.store.add_prompt

        failure = disk_failure(store)

        async def disk_fails_after_writing(*args, **kwargs):
            await real_add_prompt(*args, **kwargs)  # the question is written in the unit...
            raise failure  # ...which then cannot commit

        monkeypatch.setattr(runtime.store, "add_prompt", disk_fails_after_writing)
        clock.set(CHICAGO_9AM[1])
        with pytest.raises(type(failure)):
            await runtime.scheduler.run_due()
        assert len(await runtime.store.prompts(1)) == 1, "no question without its done mark"
        second = next(i for i in await runtime.core.facilitation.items(plan.id) if i.position == 2)
        assert not second.is_done, "no done mark without its question"

        monkeypatch.undo()  # the disk is back: the next pass asks question 2, once
        assert await runtime.scheduler.run_due() == [f"question 2 of “{topic.title}” posted"]
        assert await runtime.scheduler.run_due() == []
        assert [p.position for p in await runtime.store.prompts(1)] == [1, 2]
    finally:
        await runtime.db.close()


async def test_a_unit_of_work_commits_everything_in_it_or_nothing(db_setting: Path | str):
    db = open_database(db_setting)
    await db.open()
    storage = storage_for(db)
    try:
        kristin = Author("console", "kristin", "Kristin Antin")
        with pytest.raises(RuntimeError, match="half-way"):
            async with storage.unit_of_work() as work:
                topic_id = await storage.discussions.create_topic(
                    "allies", "Engaging allies", "", kristin, START, [FORUM, LOUNGE], within=work)
                await storage.discussions.set_status(topic_id, TopicStatus.LOCKED, "Kristin Antin",
                                                     None, START, [FORUM, LOUNGE], within=work)
                raise RuntimeError("a failure half-way")
        assert await storage.discussions.topics() == []
        assert await storage.outbox.outbox() == [], "no delivery of a topic that does not exist"

        async with storage.unit_of_work() as work:
            topic_id = await storage.discussions.create_topic(
                "allies", "Engaging allies", "", kristin, START, [FORUM, LOUNGE], within=work)
            await storage.discussions.set_status(topic_id, TopicStatus.LOCKED, "Kristin Antin",
                                                 None, START, [FORUM, LOUNGE], within=work)
        [topic] = await storage.discussions.topics()
        assert topic.is_locked
        assert len(await storage.outbox.outbox()) == 4, "open and lock, on both rooms"
    finally:
        await db.close()


async def test_a_unit_of_work_of_another_storage_is_refused(db_setting: Path | str):
    db = open_database(db_setting)
    await db.open()
    try:
        with pytest.raises(TypeError, match=f"not a unit of work of this {db.dialect.label} store"):
            await storage_for(db).facilitation.claim(object(), 1, START, "done")
    finally:
        await db.close()
