"""The relay: carries outbox rows to the adapters, in order per target, once.

A stream is one topic on one target chat. One worker per stream takes its deliveries
strictly in outbox order, so a reply never overtakes its parent and a lock never
overtakes the last post; the topics of one chat (a Discord forum channel, a Telegram
forum group) are independent streams, so a busy topic never holds up a quiet one.
Rate limits are handled here and nowhere else: every send first takes its turn in the
:class:`~bridgebot.core.ratelimit.RateBudget` (turns in a chat go round the topics
waiting, so none starves); when a stream had to wait, the posts of its topic that
queued up meanwhile are combined into as few messages as fit, however they interleave
with other topics' posts in the outbox. A failing
target waits (rate limit, transient error, with backoff and jitter) or buries the
delivery (permanent error) without holding up the other targets. The relay is
woken by new work, never by a polling interval.

Once only: before each send the row's attempt counter is committed, so after a
crash the relay knows which deliveries may already be on the platform and asks
the adapter to find them (Discord: webhook messages in the thread) before sending
again. Where a platform offers no way to find them (Telegram), such a delivery is
sent again: at most one duplicate per crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bridgebot.core import errors
from bridgebot.core.adapter import (
    Adapter,
    CanCombine,
    CanEdit,
    CanHide,
    CanLock,
    CanReconcile,
    CanRewrite,
)
from bridgebot.core.metrics import Metrics
from bridgebot.core.models import Action, ChannelRef, Delivery, DeliveryResult
from bridgebot.core.ports import PendingDelivery
from bridgebot.core.ratelimit import PlatformLimits, RateBudget
from bridgebot.core.service import Discussions

log = logging.getLogger(__name__)

#: One topic on one target chat: the unit the relay keeps in order.
Stream = tuple[ChannelRef, int]

COMBINE_MAX = 50  # posts looked at for one combined message
# After the shutdown's grace, a send already under way may take this long to be answered
# (and recorded) before it is cancelled.
STOP_IN_FLIGHT = 2.0


@dataclass(frozen=True)
class Backoff:
    """How long a delivery waits after a transient failure: exponential, with jitter.

    ``base`` seconds after the first failure, doubling per attempt up to ``cap``; the
    jitter spreads the retries of many targets apart. A parameter of :class:`Relay`
    so that tests can retry quickly without patching the module.
    """

    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempts: int) -> float:
        ceiling = self.base * 2.0 ** min(max(attempts, 0), 30)  # 2**1510 overflows a float
        return random.uniform(self.base / 2, min(self.cap, ceiling))


DEFAULT_BACKOFF = Backoff()


def describe(err: BaseException) -> str:
    """An unexpected exception as a dead letter's reason: its type and message, one line."""
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}"[:500] if text else type(err).__name__


class Relay:
    def __init__(
        self,
        core: Discussions,
        adapters: Mapping[str, Adapter],
        *,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        budget: RateBudget | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.core = core
        self.adapters = dict(adapters)
        self.clock = clock
        self.backoff = backoff
        self.metrics = metrics or Metrics()
        limits: dict[str, PlatformLimits] = {
            name: declared for name, adapter in self.adapters.items()
            if isinstance(declared := getattr(adapter, "limits", None), PlatformLimits)
        }
        # The runtime's budget is shared with the adapters' answers to one person, so both
        # count against the same windows.
        self.budget = budget if budget is not None else RateBudget(limits)
        for name, platform_limits in limits.items():
            self.budget.limits.setdefault(name, platform_limits)
        self._wake = asyncio.Event()
        self._busy: dict[Stream, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._quiet = asyncio.Event()  # no delivery to a configured platform is due now
        self._stopping = False
        self._draining = False  # shutting down: what is due goes now, nothing waits for more
        self._warned: set[str] = set()
        self._failures: dict[Stream, int] = {}
        self._maybe_sent: set[int] = set()  # rows whose send went unanswered once
        core.on_enqueue(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until :meth:`stop`; pending rows from before a restart go first."""
        unavailable = 0
        while not self._stopping:
            self._wake.clear()
            try:
                heads = await self.core.outbox.pending_heads(self.adapters)
            except Exception as err:
                if not self._is_storage(err):
                    raise
                # The database gone (a PostgreSQL server stopped): this loop ended with it,
                # and no delivery went out again until a restart, even once it was back.
                unavailable += 1
                await self._wait_for_database(err, self.backoff.delay(unavailable))
                continue
            unavailable = 0
            now = self.clock()
            next_due: float | None = None
            for row in heads:  # the oldest row of each stream decides: order per topic
                stream = (row.target, row.topic_id)
                if stream in self._busy or row.target.platform not in self.adapters:
                    self._warn_unconfigured(row.target.platform)
                    continue
                if row.not_before > now:
                    next_due = row.not_before if next_due is None else min(next_due, row.not_before)
                    continue
                self._busy[stream] = asyncio.create_task(self._work(stream))
            if not self._busy:  # every due head of a configured target has a worker
                self._quiet.set()
                if not any(r.target.platform in self.adapters for r in heads):
                    self._idle.set()
            timeout = None if next_due is None else max(0.0, next_due - now)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _wait_for_database(self, err: Exception, delay: float) -> None:
        """One line, then a look again after ``delay`` (sooner when woken). A stop meanwhile
        is told that nothing can be delivered now (what is due stays pending for the next
        start), rather than waiting out its grace."""
        log.warning("database unavailable (%s); deliveries wait, looking again in %.1fs",
                    describe(err), delay)
        if self._draining:
            self._quiet.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    def _warn_unconfigured(self, platform: str) -> None:
        if platform not in self.adapters and platform not in self._warned:
            self._warned.add(platform)
            log.warning(
                "deliveries to %s are waiting: no %s adapter is configured", platform, platform
            )

    async def _work(self, stream: Stream) -> None:
        target, topic_id = stream
        place: ChannelRef | None = None
        try:
            while not self._stopping:
                row = await self.core.outbox.next_pending(target, topic_id)
                if row is None or row.not_before > self.clock():
                    return
                if place is None or row.action is Action.OPEN_TOPIC:
                    place = await self._place(row)
                async with self.budget.turn(place, self._settler(row)) as waited:
                    await self._deliver(row, place, behind=waited > 0)
                self._failures.pop(stream, None)
        except Exception as err:  # the store failed (locked, disk full): the row stays pending
            failures = self._failures[stream] = self._failures.get(stream, 0) + 1
            delay = self.backoff.delay(failures)
            if self._is_storage(err):  # a line, as the intake says it, not a traceback each time
                log.warning("database unavailable (%s); relay worker for %s tries again in %.1fs",
                            describe(err), target, delay)
            else:
                log.exception("relay worker for %s failed; trying again in %.1fs", target, delay)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(delay)  # never a tight loop over the same row
        finally:
            self._busy.pop(stream, None)
            self.wake()

    async def _place(self, row: PendingDelivery) -> ChannelRef:
        """Where a stream's messages land, thread included, for the budget's per-thread
        windows (Discord counts each thread as a channel) and to tell a busy chat's topics
        apart (paced windows); the chat where neither applies."""
        limits = self.budget.limits.get(row.target.platform)
        if limits is None or not (limits.per_thread or limits.paced):
            return row.target
        thread_id, _ = await self.core.store.topic_place(row.topic_id, row.target)
        # A topic in a plain group (no thread: its messages answer the topic's) still is a
        # stream of its own there; it gets a key that no platform thread id looks like.
        return ChannelRef(row.target.platform, row.target.chat_id,
                          thread_id or f"topic-{row.topic_id}")

    def _settler(self, row: PendingDelivery) -> Callable[[bool], Awaitable[float]] | None:
        """How long ``row``'s stream would rather wait for the rest of its topic's posts
        before its turn (``PlatformLimits.settle``): at most ``settle_max`` from the first
        time it waited for more.

        Only while the chat's budget is the limit (a turn had to wait for it lately: a
        burst) does a stream wait for more: its posts are combined then, and a topic whose
        last two posts came within ``settle`` of each other, the newest less than
        ``settle`` ago, is still being written to, so sending now would leave the posts
        about to arrive to a message of their own. In a chat the budget keeps up with, in
        a topic with a post now and then, or for anything but a post (a lock, an edit),
        nothing waits.
        """
        limits = self.budget.limits.get(row.target.platform)
        if limits is None or limits.settle <= 0 or row.action is not Action.POST or row.attempts:
            return None
        since: list[float] = []  # when this stream first waited for more

        async def settle(pressed: bool) -> float:
            if not pressed or self._draining:
                return 0.0
            posting = self.core.posting(row.topic_id, row.target)
            if posting is None or max(posting) >= limits.settle:
                return 0.0  # the topic is quiet, or a post comes now and then: all are there
            now = time.monotonic()
            if not since:
                since.append(now)
            left = limits.settle_max - (now - since[0])
            if left <= 0:
                return 0.0
            queued = await self.core.outbox.pending_for(row.target, row.topic_id,
                                                        limit=COMBINE_MAX)
            run = list(itertools.takewhile(
                lambda r: r.action is Action.POST and not r.attempts, queued))
            if not run or len(run) >= COMBINE_MAX:
                return 0.0  # a lock or an edit is next, or the message is full anyway
            return min(limits.settle - posting[0], left)

        return settle

    async def _deliver(self, row: PendingDelivery, place: ChannelRef, *, behind: bool) -> None:
        if row.action is Action.OPEN_TOPIC:  # messages in the new thread wait for its record
            async with self.core.opening(row.target):
                await self._deliver_row(row, place, behind=behind)
        else:
            await self._deliver_row(row, place, behind=behind)

    async def _deliver_row(self, row: PendingDelivery, place: ChannelRef, *,
                           behind: bool) -> None:
        """Build, send and record one row (its first message already reserved by the
        stream's turn); whatever goes wrong becomes a classified error.

        A row that cannot even be built (a rendering bug on odd content) is dead-lettered
        with its reason at once, so it never holds up the rows behind it.
        """
        adapter = self.adapters[row.target.platform]
        try:
            delivery = await self.core.build_delivery(row)
            if delivery is None:
                await self.core.outbox.bury(row.id, "its topic no longer exists")
                return
            batch = await self._batch(adapter, row, delivery, place, behind=behind)
        except Exception as err:
            if self._is_storage(err):
                raise  # the database, not the row: the worker backs off and tries again
            log.exception("delivery %d to %s could not be built", row.id, row.target)
            await self._bury(row, f"could not be built: {describe(err)}")
            return
        try:
            if delivery.attempts and isinstance(adapter, CanReconcile):
                found = await adapter.find_sent(delivery)
                if found is not None:
                    log.info("delivery %d was already on %s before a restart", row.id, row.target)
                    await self.core.delivered(row, delivery, found.message_ids, found.thread_id)
                    return
            await self.core.outbox.mark_attempt([r.id for r, _ in batch])
            if len(batch) > 1:
                assert isinstance(adapter, CanCombine)
                combined = await adapter.deliver_combined([d for _, d in batch])
                self.budget.record(place, len(combined.message_ids) - 1)  # the first: the turn's
                await self.core.held(lambda: self.core.delivered_combined(
                    [r for r, _ in batch], [d for _, d in batch], combined.message_ids),
                    f"the record of delivery {row.id}")
                self.metrics.count("combined", row.target.platform, len(batch))
                self._latency([d for _, d in batch])
                return
            result = await self._call(adapter, delivery)
            # The first was the turn's; an adapter that paced further pieces counted them.
            self.budget.record(place, len(result.message_ids) - 1 - result.paced)
        except errors.RateLimited as err:
            self.metrics.count("rate_limited", row.target.platform)
            self.budget.hold(row.target, err.retry_after)  # answers to that chat wait too
            log.info("%s rate-limited %s; retrying in %.1fs", row.target, row.action, err.retry_after)
            await self.core.outbox.retry_later(row.id, self.clock() + err.retry_after, str(err))
        except errors.PermanentError as err:
            log.warning("delivery %d to %s failed for good: %s", row.id, row.target, err)
            await self._bury(row, str(err))
        except errors.MaybeSent as err:  # only the adapter knows a send may have gone through
            if row.id in self._maybe_sent:
                self._maybe_sent.discard(row.id)
                log.warning("delivery %d to %s went unanswered twice; not sent a third time",
                            row.id, row.target)
                await self._bury(row, f"no answer twice, so perhaps on the platform already "
                                      f"(not sent again): {err}")
                return
            self._maybe_sent.add(row.id)
            self.metrics.maybe_duplicated += 1
            self.metrics.count("retried", row.target.platform)
            delay = self.backoff.delay(row.attempts)
            log.warning("delivery %d to %s went unanswered (%s); sending it once more in %.1fs",
                        row.id, row.target, err, delay)
            await self.core.outbox.retry_later(row.id, self.clock() + delay,
                                              f"no answer: {err}")
        except (errors.TransientError, OSError, TimeoutError) as err:
            if self._is_storage(err):
                raise
            self.metrics.count("retried", row.target.platform)
            delay = self.backoff.delay(row.attempts)
            log.info("delivery %d to %s failed (%s); retrying in %.1fs", row.id, row.target, err, delay)
            await self.core.outbox.retry_later(row.id, self.clock() + delay, str(err) or type(err).__name__)
        except Exception as err:
            if self._is_storage(err):
                raise
            # Not a platform's answer the adapter knows: a bug, or a library change. Trying
            # the same row again would fail the same way, so it goes to the dead letters
            # (``bridgebot outbox retry`` sends it again once fixed).
            log.exception("delivery %d to %s failed unexpectedly", row.id, row.target)
            await self._bury(row, f"unexpected error: {describe(err)}")
        else:
            # Sent: the record must follow, however long the database takes (a row left
            # pending here would be sent again).
            await self.core.held(
                lambda: self.core.delivered(row, delivery, result.message_ids, result.thread_id),
                f"the record of delivery {row.id}")
            self.metrics.count("delivered", row.target.platform)
            self._latency([delivery])

    async def _bury(self, row: PendingDelivery, reason: str) -> None:
        self.metrics.count("dead", row.target.platform)
        await self.core.outbox.bury(row.id, reason)

    def _latency(self, deliveries: Sequence[Delivery]) -> None:
        """How long each post took from acceptance to its copy on the target, retries included."""
        now = datetime.now(UTC)
        for d in deliveries:
            if d.action is Action.POST and d.post is not None:
                accepted = d.post.created_at
                if accepted.tzinfo is None:
                    accepted = accepted.replace(tzinfo=UTC)
                self.metrics.observe_latency(d.target.platform, (now - accepted).total_seconds())

    def _is_storage(self, err: BaseException) -> bool:
        """The database failed (locked, full, gone): the row is fine, the store is not."""
        return self.core.storage.is_failure(err)

    async def _batch(self, adapter: Adapter, row: PendingDelivery, delivery: Delivery,
                     place: ChannelRef, *, behind: bool) -> list[tuple[PendingDelivery, Delivery]]:
        """Posts of the same topic queued behind this one, when the stream is behind.

        A stream is behind when it had to wait for its turn, or when more of its posts
        wait than the target may receive right now; those are combined (the adapter
        decides how many fit one message). Other topics' rows in between do not matter:
        they are other streams.
        """
        if row.action is not Action.POST or not isinstance(adapter, CanCombine) or row.attempts:
            return [(row, delivery)]
        if delivery.post is not None and delivery.post.attachments:
            return [(row, delivery)]  # files go as their own message, with the post as caption
        queued = await self.core.outbox.pending_for(row.target, row.topic_id, limit=COMBINE_MAX)
        run: list[PendingDelivery] = []
        for other in queued:
            if other.action is not Action.POST or other.attempts:
                break
            run.append(other)
        if len(run) < 2 or not (behind or self.budget.wait_time(place, sends=len(run) - 1) > 0):
            return [(row, delivery)]
        batch = [(row, delivery)]
        for other in run[1:]:
            built = await self.core.build_delivery(other)
            if built is None or (built.post is not None and built.post.attachments):
                break
            batch.append((other, built))
        fits = adapter.combinable([d for _, d in batch])
        return batch[: max(1, fits)]

    async def _call(self, adapter: Adapter, delivery: Delivery) -> DeliveryResult:
        action = delivery.action
        if action in (Action.OPEN_TOPIC, Action.PROMPT, Action.POST):
            return await adapter.deliver(delivery)
        if action is Action.EDIT:
            if isinstance(adapter, CanEdit) and (delivery.message_ids or delivery.combined):
                # The messages that show the post now, when the edit added or removed some.
                return await adapter.edit(delivery) or DeliveryResult()
            return DeliveryResult()
        if action is Action.REWRITE:
            if not delivery.rewrites:
                return DeliveryResult()
            if not isinstance(adapter, CanRewrite):  # said, not silently marked done
                raise errors.PermanentError(
                    f"{delivery.target}: bridgebot cannot edit its own messages on this platform")
            await adapter.rewrite(delivery)
            return DeliveryResult()
        if action is Action.HIDE:
            if isinstance(adapter, CanHide) and delivery.message_ids:
                await adapter.hide(delivery)
            return DeliveryResult()
        if action in (Action.LOCK, Action.UNLOCK):
            if isinstance(adapter, CanLock):
                return await adapter.set_locked(delivery, action is Action.LOCK)
            return DeliveryResult()
        return await adapter.deliver(delivery)  # kinds added later (notices, digests)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no delivery to a configured platform is pending, retries included.

        Used by tests, the shell and the demo; raises ``TimeoutError`` after ``timeout``.
        """
        async with asyncio.timeout(timeout):
            while True:
                self._idle.clear()
                self.wake()
                await self._idle.wait()
                heads = await self.core.outbox.pending_heads(self.adapters)
                if not self._busy and not any(r.target.platform in self.adapters for r in heads):
                    return

    async def stop(self, grace: float = 10.0) -> None:
        """Deliver what is due now, then stop; within ``grace`` seconds in all.

        Shutdown comes after intake has stopped (:class:`~bridgebot.core.adapter.
        CanStopIntake`) and before the adapters close, so a lock notice waiting behind a
        rate budget still goes out through an open client. Rows waiting for a retry later
        than now, and whatever is still due when ``grace`` runs out, stay pending for the
        next start.
        """
        if self._stopping:
            return
        self._draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, grace)
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    self._quiet.clear()
                    self.wake()
                    await self._quiet.wait()
                    if not self._busy:
                        break
        except TimeoutError:
            log.warning("stopping with deliveries still due after %.0fs; they stay pending "
                        "for the next start", grace)
        self._stopping = True
        self.wake()
        if self._busy:  # a send under way gets a moment to be answered and recorded
            await asyncio.wait(list(self._busy.values()), timeout=STOP_IN_FLIGHT)
        for task in list(self._busy.values()):
            task.cancel()
