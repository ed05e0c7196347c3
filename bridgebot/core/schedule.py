"""The scheduler: carries out a published topic plan when each step is due.

``bridgebot topic publish`` (any process) records a plan; the running bot's scheduler
sleeps until the next due time, re-reading the plan table every few seconds so a
publish from another process is picked up. Each item is marked done in the same
transaction as the topic, prompt, digest or lock it creates, so after downtime what
was due is done once on start: never repeated, never skipped, even with two bots on
one database. Time comes from the core's clock, so tests move it by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from bridgebot.core import errors
from bridgebot.core.digest import post_digest, prepare_digest
from bridgebot.core.models import Author, TopicStatus
from bridgebot.core.plan import ItemKind, Plan, PlanItem, PublishResult
from bridgebot.core.service import Discussions
from bridgebot.core.topicfile import TopicFile
from bridgebot.store.facilitation import FacilitationStore

log = logging.getLogger(__name__)

RECHECK_SECONDS = 5.0
FACILITATOR_PLATFORM = "bridgebot"


def facilitator_of(plan: Plan) -> Author:
    """Who scheduled actions are by: the topic file's ``facilitator`` name."""
    return Author(FACILITATOR_PLATFORM, f"facilitator:{plan.facilitator}", plan.facilitator)


async def publish(core: Discussions, topic: TopicFile, now: datetime) -> PublishResult:
    """Record a checked topic file's plan (replacing what is still to come of an earlier
    publish of the same name); the running bot carries it out."""
    earlier = await core.facilitation.plan_named(topic.name)
    if earlier is not None and earlier.topic_id is not None and earlier.bridge != topic.bridge:
        raise errors.InvalidInput(
            f"“{earlier.title}” already opened on bridge {earlier.bridge}; it cannot move to "
            f"{topic.bridge}. Give the file another name = \"...\" to publish a new topic."
        )
    return await core.facilitation.save_plan(topic.plan(now), now)


class Scheduler:
    """Runs due plan items; :meth:`run` is the loop the runtime starts."""

    def __init__(self, core: Discussions, *, recheck: float = RECHECK_SECONDS) -> None:
        self.core = core
        self.recheck = recheck
        self._wake = asyncio.Event()
        self._passes = 0
        self._pass_done = asyncio.Condition()
        self._warned: set[int] = set()
        self._running_pass = False

    @property
    def store(self) -> FacilitationStore:
        return self.core.facilitation

    def wake(self) -> None:
        """Look at the plan table now (a publish in this process, a test moving time)."""
        self._wake.set()

    async def poke(self, timeout: float = 10.0) -> None:
        """Wake the loop and wait until a pass that started after this call has finished
        (a pass already running may have read the clock before it was moved)."""
        target = self._passes + (2 if self._running_pass else 1)
        self.wake()
        async with self._pass_done:
            await asyncio.wait_for(self._pass_done.wait_for(lambda: self._passes >= target), timeout)

    async def run(self) -> None:
        """Carry out what is due, then sleep until the next due time (at most ``recheck``)."""
        while True:
            self._wake.clear()
            self._running_pass = True
            try:
                await self.run_due()
            except Exception:  # a bug must not stop the schedule; the item stays pending
                log.exception("carrying out the topic schedule failed")
            finally:  # both at once, with no await between: what poke() relies on
                self._running_pass = False
                self._passes += 1
            async with self._pass_done:
                self._pass_done.notify_all()
            delay = self.recheck
            upcoming = await self._next_due()
            if upcoming is not None:
                delay = min(delay, max(0.0, (upcoming - self.core.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _next_due(self) -> datetime | None:
        """The next time something becomes due (what is due but waiting, for its topic or
        its bridge, is looked at again every ``recheck`` seconds anyway)."""
        try:
            return await self.store.next_due(after=self.core.clock())
        except Exception:
            log.exception("reading the topic schedule failed")
            return None

    async def run_due(self) -> list[str]:
        """Carry out every item due now, in order; return what was done (for logs, tests)."""
        now = self.core.clock()
        done: list[str] = []
        opened: dict[int, int] = {}
        for plan, item in await self.store.due_items(now):
            topic_id = plan.topic_id or opened.get(plan.id)
            if plan.bridge not in self.core.bridges:
                self._warn(plan, f"bridge {plan.bridge!r} of “{plan.title}” is not configured in "
                           "this bot's settings; its schedule waits")
                continue
            if item.kind is ItemKind.OPEN:
                new_id = await self._open(plan, item, now)
                if new_id is not None:
                    opened[plan.id] = new_id
                    done.append(f"opened “{plan.title}”")
                continue
            if topic_id is None:
                continue  # waits for its topic to open
            outcome = await self._carry_out(plan, item, topic_id, now)
            if outcome:
                done.append(outcome)
        if done:
            self.core.wake_relay()
        return done

    def _warn(self, plan: Plan, message: str) -> None:
        """Once per plan and process: the schedule is re-read every few seconds."""
        if plan.id not in self._warned:
            self._warned.add(plan.id)
            log.warning("%s", message)

    async def _open(self, plan: Plan, item: PlanItem, now: datetime) -> int | None:
        channels = self.core.bridges[plan.bridge].channels
        async with self.store.transaction() as tx:
            if not await self.store.claim(tx, item.id, now, "opened"):
                return None
            topic_id = await self.core.store.create_topic(
                plan.bridge, plan.title, plan.introduction, facilitator_of(plan), now, channels,
                within=tx,
            )
            await self.store.link_topic(tx, plan.id, topic_id)
        log.info("scheduled: topic %d “%s” opened on bridge %s", topic_id, plan.title, plan.bridge)
        return topic_id

    async def _carry_out(self, plan: Plan, item: PlanItem, topic_id: int, now: datetime) -> str | None:
        topic = await self.core.store.topic(topic_id)
        if topic is None:
            return None
        channels = self.core.bridges[plan.bridge].channels
        name = f"“{topic.title}”"
        if item.kind is not ItemKind.LOCK and topic.is_locked:
            outcome = f"skipped: {name} was already locked"
            async with self.store.transaction() as tx:
                claimed = await self.store.claim(tx, item.id, now, outcome)
            return outcome if claimed else None
        if item.kind is ItemKind.PROMPT:
            async with self.store.transaction() as tx:
                if not await self.store.claim(tx, item.id, now, "posted"):
                    return None
                await self.core.store.add_prompt(topic.id, item.text or "", now, channels, within=tx)
            log.info("scheduled: question %d of %s posted", item.position, name)
            return f"question {item.position} of {name} posted"
        if item.kind is ItemKind.DIGEST:
            digest = await prepare_digest(self.core, topic)
            async with self.store.transaction() as tx:
                if not await self.store.claim(tx, item.id, now, "posted"):
                    return None
                await post_digest(self.core, topic, plan.facilitator, now, within=tx, digest=digest)
            log.info("scheduled: digest of %s posted", name)
            return f"digest of {name} posted"
        outcome = "already locked" if topic.is_locked else "locked"
        async with self.store.transaction() as tx:
            if not await self.store.claim(tx, item.id, now, outcome):
                return None
            await self.core.store.set_status(topic.id, TopicStatus.LOCKED, plan.facilitator,
                                             item.text, now, channels, within=tx)
        log.info("scheduled: %s %s", name, outcome)
        return f"{name} {outcome}"
