"""The relay: carries outbox rows to the adapters, in order per target, once.

One worker per target chat takes that chat's deliveries strictly in outbox order,
so a reply never overtakes its parent and a lock never overtakes the last post. A
failing target waits (rate limit, transient error) or buries the delivery
(permanent error) without holding up the other targets. The relay is woken by new
work, not by a polling interval.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping

from bridgebot.core import errors
from bridgebot.core.adapter import Adapter, CanEdit, CanHide, CanLock
from bridgebot.core.models import Action, ChannelRef, DeliveryResult
from bridgebot.core.service import Discussions
from bridgebot.store.repo import PendingRow

log = logging.getLogger(__name__)

BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0


def backoff(attempts: int) -> float:
    """Exponential backoff with full jitter: spreads retries of many targets apart."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(attempts, 0)))


class Relay:
    def __init__(
        self,
        core: Discussions,
        adapters: Mapping[str, Adapter],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.adapters = dict(adapters)
        self.clock = clock
        self._wake = asyncio.Event()
        self._busy: dict[ChannelRef, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._stopping = False
        self._warned: set[str] = set()
        core.on_enqueue(self.wake)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Deliver until :meth:`stop`; pending rows from before a restart go first."""
        while not self._stopping:
            self._wake.clear()
            rows = await self.core.store.pending(0, limit=1000)
            now = self.clock()
            next_due: float | None = None
            seen: set[ChannelRef] = set()
            for row in rows:  # only the oldest row of each target decides: order per target
                if row.target in seen:
                    continue
                seen.add(row.target)
                if row.target in self._busy or row.target.platform not in self.adapters:
                    self._warn_unconfigured(row.target.platform)
                    continue
                if row.not_before > now:
                    next_due = row.not_before if next_due is None else min(next_due, row.not_before)
                    continue
                self._busy[row.target] = asyncio.create_task(self._work(row.target))
            if not self._busy and not any(r.target.platform in self.adapters for r in rows):
                self._idle.set()
            timeout = None if next_due is None else max(0.0, next_due - now)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    def _warn_unconfigured(self, platform: str) -> None:
        if platform not in self.adapters and platform not in self._warned:
            self._warned.add(platform)
            log.warning(
                "deliveries to %s are waiting: no %s adapter is configured", platform, platform
            )

    async def _work(self, target: ChannelRef) -> None:
        try:
            while not self._stopping:
                row = await self.core.store.next_pending(target)
                if row is None or row.not_before > self.clock():
                    return
                await self._deliver(row)
        except Exception:  # a bug must not kill the relay; the row stays pending
            log.exception("relay worker for %s failed", target)
        finally:
            self._busy.pop(target, None)
            self.wake()

    async def _deliver(self, row: PendingRow) -> None:
        adapter = self.adapters[row.target.platform]
        delivery = await self.core.build_delivery(row)
        if delivery is None:
            await self.core.store.bury(row.id, "its topic no longer exists")
            return
        try:
            result = await self._call(adapter, delivery)
        except errors.RateLimited as err:
            log.info("%s rate-limited %s; retrying in %.1fs", row.target, row.action, err.retry_after)
            await self.core.store.retry_later(row.id, self.clock() + err.retry_after, str(err))
        except errors.PermanentError as err:
            log.warning("delivery %d to %s failed for good: %s", row.id, row.target, err)
            await self.core.store.bury(row.id, str(err))
        except (errors.TransientError, OSError, TimeoutError) as err:
            delay = backoff(row.attempts)
            log.info("delivery %d to %s failed (%s); retrying in %.1fs", row.id, row.target, err, delay)
            await self.core.store.retry_later(row.id, self.clock() + delay, str(err) or type(err).__name__)
        else:
            await self.core.delivered(row, delivery, result.message_ids, result.thread_id)

    async def _call(self, adapter: Adapter, delivery) -> DeliveryResult:
        action = delivery.action
        if action in (Action.OPEN_TOPIC, Action.PROMPT, Action.POST):
            return await adapter.deliver(delivery)
        if action is Action.EDIT:
            if isinstance(adapter, CanEdit) and delivery.message_ids:
                await adapter.edit(delivery)
            return DeliveryResult()
        if action is Action.HIDE:
            if isinstance(adapter, CanHide) and delivery.message_ids:
                await adapter.hide(delivery)
            return DeliveryResult()
        if action in (Action.LOCK, Action.UNLOCK):
            if isinstance(adapter, CanLock):
                return await adapter.set_locked(delivery, action is Action.LOCK)
            return DeliveryResult()
        raise errors.PermanentError(f"unknown action {action}")

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no delivery to a configured platform is pending, retries included.

        Used by tests, the shell and the demo; raises ``TimeoutError`` after ``timeout``.
        """
        async with asyncio.timeout(timeout):
            while True:
                self._idle.clear()
                self.wake()
                await self._idle.wait()
                rows = await self.core.store.pending(0)
                if not self._busy and not any(r.target.platform in self.adapters for r in rows):
                    return

    async def stop(self, grace: float = 10.0) -> None:
        """Let in-flight deliveries finish (bounded), then stop; pending rows stay pending."""
        self._stopping = True
        self.wake()
        if self._busy:
            await asyncio.wait(list(self._busy.values()), timeout=grace)
        for task in list(self._busy.values()):
            task.cancel()
