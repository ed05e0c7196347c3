"""The scheduler: carries out a published topic plan when each step is due.

``bridgebot topic publish`` (any process) records a plan; the running bot's scheduler
sleeps until the next due time, re-reading the plan table every few seconds so a
publish from another process is picked up. Each item is marked done in the same
transaction as the topic, prompt, digest or lock it creates, so after downtime what
was due is done once on start: never repeated, never skipped, even with two bots on
one database. Time comes from the core's clock, so tests move it by hand.

Each step goes through the same use cases as a facilitator in a chat, as the topic
file's facilitator (a system actor): the rules (no question or digest after a lock)
live in the core once; a step the rules refuse is marked skipped, with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from bridgebot.core import errors
from bridgebot.core.digest import digest_topic, prepare_digest
from bridgebot.core.models import SYSTEM_PLATFORM, Author
from bridgebot.core.plan import ItemKind, Plan, PlanItem, PublishResult
from bridgebot.core.ports import FacilitationPort, UnitOfWork
from bridgebot.core.service import Discussions
from bridgebot.core.topicfile import TopicFile

log = logging.getLogger(__name__)

RECHECK_SECONDS = 5.0
FACILITATOR_PLATFORM = SYSTEM_PLATFORM


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
    def store(self) -> FacilitationPort:
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
            except Exception as err:  # a bug must not stop the schedule; the item stays pending
                errors.log_failed(log, err, "carrying out the topic schedule", self.core.storage.is_failure)
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
        except Exception as err:
            errors.log_failed(log, err, "reading the topic schedule", self.core.storage.is_failure)
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
        bridge = self.core.bridges[plan.bridge]
        opened: list[int] = []

        async def open_topic(work: UnitOfWork) -> object:
            topic_id = await self.core.open_topic_on(
                facilitator_of(plan), bridge, plan.title, plan.introduction, within=work, now=now,
            )
            await self.store.link_topic(work, plan.id, topic_id)
            opened.append(topic_id)
            return topic_id

        if await self._step(item, plan.title, now, "opened", open_topic) != "opened":
            return None
        log.info("scheduled: topic %d opened on bridge %s", opened[0], plan.bridge)
        return opened[0]

    async def _carry_out(self, plan: Plan, item: PlanItem, topic_id: int, now: datetime) -> str | None:
        topic = await self.core.store.topic(topic_id)
        if topic is None:
            return None
        actor = facilitator_of(plan)
        name = f"“{topic.title}”"
        if item.kind is ItemKind.PROMPT:
            async def ask(work: UnitOfWork) -> object:
                return await self.core.prompt_topic(actor, topic, item.text or "", within=work, now=now)

            done = await self._step(item, topic.title, now, "posted", ask)
            if done == "posted":
                log.info("scheduled: question %d of topic %d posted", item.position, topic.id)
                return f"question {item.position} of {name} posted"
            return done
        if item.kind is ItemKind.DIGEST:
            digest = None if topic.is_locked else await prepare_digest(self.core, topic)

            async def summarise(work: UnitOfWork) -> object:
                return await digest_topic(self.core, actor, topic, within=work, digest=digest, now=now)

            done = await self._step(item, topic.title, now, "posted", summarise)
            if done == "posted":
                log.info("scheduled: digest of topic %d posted", topic.id)
                return f"digest of {name} posted"
            return done
        outcome = "already locked" if topic.is_locked else "locked"

        async def lock(work: UnitOfWork) -> object:
            return await self.core.lock_topic(actor, topic, True, item.text, within=work, now=now)

        done = await self._step(item, topic.title, now, outcome, lock)
        if done == outcome:
            log.info("scheduled: topic %d %s", topic.id, outcome)
            return f"{name} {outcome}"
        return done

    async def _step(self, item: PlanItem, title: str, now: datetime, outcome: str,
                    act: Callable[[UnitOfWork], Awaitable[object]]) -> str | None:
        """Claim ``item`` with ``outcome`` and act, in one unit of work; the outcome, or
        None when another pass (or bot) had claimed it. A step the rules refuse (a locked
        topic takes no question) is claimed as skipped instead, with the reason."""
        try:
            async with self.core.unit_of_work() as work:
                if not await self.store.claim(work, item.id, now, outcome):
                    return None
                await act(work)
            return outcome
        except errors.RuleError as refused:
            if isinstance(refused, errors.LockedTopicRefuses):
                skipped = f"skipped: “{title}” was already locked"
            else:
                skipped = f"skipped: {refused}"
                log.warning("scheduled item %d was refused: %s", item.id, type(refused).__name__)
            async with self.core.unit_of_work() as work:
                claimed = await self.store.claim(work, item.id, now, skipped)
            return skipped if claimed else None
