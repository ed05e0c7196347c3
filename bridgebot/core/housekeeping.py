"""Housekeeping for months of running: the outbox keeps only what may still matter.

Every delivery leaves an outbox row; once delivered, the row is only needed for a
while: a crash's reconciliation looks at deliveries still pending (never at delivered
ones), and operators look back at recent ones with ``bridgebot outbox list --state all``.
So once an hour the rows delivered more than ``retention`` ago are deleted (dead rows
stay until retried or dropped; see ``Store.prune_delivered`` for the few kept for good)
and their space goes back to the file system, so the database grows with the posts and
their message map only.

The files folder's ``tmp/`` is swept at the same times: what a crash left there (a file
caught between its arrival and its rename into place, perhaps a participant's photo
whose metadata was not removed yet) is deleted once unchanged for an hour
(``FileStore.sweep_leftovers``), and so is a platform download a crash cut short in the
system's temporary folder. Each worker sweeps; none touches a file being written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bridgebot.core import errors

log = logging.getLogger(__name__)

DEFAULT_RETENTION = timedelta(days=7)
# Never less: a delivery finished seconds before a crash is well out of reach by then.
MIN_RETENTION = timedelta(hours=1)
EVERY = timedelta(hours=1)


class PrunableOutbox(Protocol):
    """What housekeeping needs from storage."""

    async def prune_delivered(self, before: datetime) -> int: ...

    async def reclaim_space(self) -> int: ...


class LeftoverFiles(Protocol):
    """What housekeeping needs from the files folder."""

    async def sweep_leftovers(self) -> int: ...


@dataclass
class PruneReport:
    rows: int
    bytes_freed: int


class OutboxKeeper:
    """Deletes delivered outbox rows past ``retention``, and the files folder's leftovers,
    on start and then every hour."""

    def __init__(self, store: PrunableOutbox, clock: Callable[[], datetime], *,
                 retention: timedelta = DEFAULT_RETENTION, every: timedelta = EVERY,
                 files: LeftoverFiles | None = None,
                 is_failure: Callable[[BaseException], bool] = lambda err: False) -> None:
        if retention < MIN_RETENTION:
            raise ValueError(f"the outbox retention must be at least {MIN_RETENTION}")
        self.store = store
        self.files = files
        self.clock = clock
        self.retention = retention
        self.every = every
        self.is_failure = is_failure  # the database failing: a line, not a traceback

    async def prune(self) -> PruneReport:
        """Delete what is past retention now and give its space back."""
        rows = await self.store.prune_delivered(self.clock() - self.retention)
        freed = await self.store.reclaim_space() if rows else 0
        if rows:
            log.info("outbox: deleted %d delivered rows older than %s (%.1f MB freed)", rows,
                     self.retention, freed / 1e6)
        return PruneReport(rows, freed)

    async def sweep(self) -> int:
        """Delete what a crash left in the files folder's ``tmp/``; how many entries."""
        if self.files is None:
            return 0
        removed = await self.files.sweep_leftovers()
        if removed:
            log.info("files: deleted %d leftovers of interrupted writes", removed)
        return removed

    async def run(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception as err:  # a bug or a busy disk must not stop it; it tries again later
                errors.log_failed(log, err, "pruning delivered outbox rows", self.is_failure)
            try:
                await self.sweep()
            except TimeoutError:
                log.warning("the files folder did not answer while its leftovers were swept")
            except Exception:
                log.exception("sweeping the files folder's leftovers failed")
            await asyncio.sleep(self.every.total_seconds())
