"""Wiring: database, storage, core and relay, started and stopped together.

The core declares what it needs from storage (:mod:`bridgebot.core.ports`); this is the
one place that picks the implementation (SQLite or PostgreSQL, :mod:`bridgebot.store`) and hands it in.

The CLI, the demo and the tests all assemble bridgebot through :class:`Runtime`, so
what the tests exercise is what ``bridgebot run`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bridgebot.adapters import registry
from bridgebot.core import errors
from bridgebot.core.adapter import Adapter, CanStopIntake
from bridgebot.core.housekeeping import DEFAULT_RETENTION, OutboxKeeper
from bridgebot.core.metrics import Metrics
from bridgebot.core.models import ChannelRef
from bridgebot.core.platforms import Platforms
from bridgebot.core.privacy import PrivacyKeeper
from bridgebot.core.ratelimit import PlatformLimits, RateBudget
from bridgebot.core.relay import DEFAULT_BACKOFF, Backoff, Relay
from bridgebot.core.schedule import RECHECK_SECONDS, Scheduler
from bridgebot.core.service import Bridge, Discussions
from bridgebot.store import files_folder, open_database, storage_for
from bridgebot.store.db import Database, DatabaseUnusable
from bridgebot.store.files import FileStore
from bridgebot.store.leader import AlwaysLeader, Leadership, PgLeader
from bridgebot.store.postgres import PgDatabase
from bridgebot.store.repo import Store

if TYPE_CHECKING:
    from bridgebot.settings import Settings

log = logging.getLogger(__name__)

# A platform unreachable at start is tried again after 0.5 s, then twice as long each time,
# up to a minute: a bot started before the network (or the platform) is back simply waits.
CONNECT_BACKOFF = Backoff(0.5, cap=60.0)

# The roles only one worker may hold (the scheduler's steps run once; one getUpdates poller).
SCHEDULER_ROLE = "scheduler"
TELEGRAM_POLLING_ROLE = "telegram-polling"


class Runtime:
    def __init__(
        self,
        database: Path | str,
        bridges: Iterable[Bridge],
        *,
        facilitators: Iterable[tuple[str, str]] = (),
        help_text: str | None = None,
        archive_url: str | None = None,
        clock: Callable[[], datetime] | None = None,
        schedule_recheck: float = RECHECK_SECONDS,
        platforms: Platforms | None = None,
        outbox_retention: timedelta = DEFAULT_RETENTION,
        relay_backoff: Backoff = DEFAULT_BACKOFF,
        files_dir: Path | None = None,
    ) -> None:
        # A SQLite file or a PostgreSQL server, as the database setting says.
        self.db = open_database(database)
        # The store itself, for the operator's commands (topics, outbox, health).
        self.store = Store(self.db)
        # Posts' files: the files_dir setting, else beside the SQLite file or PostgreSQL's
        # default; absolute from here on (workers share it: README "PostgreSQL").
        self.files_dir = files_folder(database, files_dir)
        self.storage = storage_for(self.db, self.store, self.files_dir)
        extra = {"clock": clock} if clock is not None else {}
        # The registered platforms unless told otherwise (the core imports no adapter).
        self.platforms = platforms if platforms is not None else registry.core_platforms()
        self.core = Discussions(self.storage, bridges, help_text=help_text,
                                platforms=self.platforms, archive_url=archive_url, **extra)
        # Carries out published topic plans (prompts, digests, locks) when they are due.
        self.scheduler = Scheduler(self.core, recheck=schedule_recheck)
        self._scheduler_task: asyncio.Task[None] | None = None
        # Erases text past each bridge's retention (on start, then daily); wakes the relay
        # for deliveries other processes queued (``bridgebot forget``).
        self.privacy_keeper = PrivacyKeeper(self.core)
        self._keeper_task: asyncio.Task[None] | None = None
        # Deletes delivered outbox rows past their retention, and what a crash left in the
        # files folder's tmp/ (on start, then hourly).
        self.outbox_keeper = OutboxKeeper(self.store, self.core.clock, retention=outbox_retention,
                                          files=self.storage.files if isinstance(
                                              self.storage.files, FileStore) else None,
                                          is_failure=self.storage.is_failure)
        self._outbox_task: asyncio.Task[None] | None = None
        self._facilitators = list(facilitators)
        self.adapters: dict[str, Adapter] = {}
        # One send budget for the process: the relay's deliveries and the adapters' answers
        # to one person count against the same platform limits (core/ratelimit.py).
        self.budget = RateBudget()
        self.relay: Relay | None = None
        self.metrics = Metrics()  # shared with the relay, read by /metrics
        self._relay_task: asyncio.Task[None] | None = None
        self._relay_backoff = relay_backoff
        self._stopped = False
        self.connect_backoff = CONNECT_BACKOFF
        # Platforms not connected yet, each with why the last attempt failed (for /healthz).
        self.connecting: dict[str, str] = {}
        # Roles one worker holds at a time among those sharing a PostgreSQL database
        # (store/leader.py); with SQLite this process always holds them.
        self.leaders: dict[str, Leadership] = {
            role: self._leader(role) for role in (SCHEDULER_ROLE, TELEGRAM_POLLING_ROLE)}

    def _leader(self, role: str) -> Leadership:
        return PgLeader(self.db.dsn, role) if isinstance(self.db, PgDatabase) else AlwaysLeader(role)

    def add_adapter(self, adapter: Adapter) -> None:
        self.adapters[adapter.platform] = adapter
        limits = getattr(adapter, "limits", None)
        if isinstance(limits, PlatformLimits):
            self.budget.add(adapter.platform, limits)
        if isinstance(getattr(adapter, "budget", None), RateBudget):
            adapter.budget = self.budget  # type: ignore[attr-defined]
        if hasattr(adapter, "leader"):  # polls only while it leads (one poller per token)
            adapter.leader = self.leaders[f"{adapter.platform}-polling"]
        # Roles an adapter declares (Discord's gateway shards: each connected by one worker).
        roles = getattr(adapter, "leader_roles", ())
        if roles:
            for role in roles:
                self.leaders.setdefault(role, self._leader(role))
            adapter.leaders = {role: self.leaders[role] for role in roles}  # type: ignore[attr-defined]

    async def open(self, *, apply_settings: bool = True) -> None:
        """Open the database (migrating it) without starting adapters or the relay.

        ``apply_settings`` writes the configured facilitators into it: the running bot does;
        an operator command (``topics``, ``export``, ``outbox``, ...) must not, or running it
        with another configuration would change who may facilitate in the running bot. The
        running bot also proves its files folder writable first
        (:class:`~bridgebot.store.files.FilesUnusable`: one line, exit 2)."""
        if apply_settings and isinstance(self.storage.files, FileStore):
            # Bounded: a hung network mount is a one-line error too, not a start that hangs.
            refused = await self.storage.files.probe(FILES_CHECK_SECONDS)
            if refused is not None:
                raise refused
        await self.db.open()
        if isinstance(self.db, PgDatabase):  # other workers' new deliveries wake this relay
            self.db.on_outbox(self.core.wake_relay)
            self.db.on_taken(self._learn_sends)
        if apply_settings:
            await self.store.set_facilitators(self._facilitators)

    async def start(self) -> None:
        """Open the database, start every adapter (side by side: each waits on its own
        platform), then the relay.

        A platform that cannot be reached is tried again with backoff, one log line per
        attempt with the reason (no traceback), and ``/healthz`` says it is not connected
        yet. A refusal that trying again cannot fix (a refused token, a missing setting:
        :class:`~bridgebot.core.errors.PermanentError`) ends the start: the adapters already
        started are stopped and the error raised, for one line naming the platform.
        """
        self._stopped = False
        await self.open()
        adapters = list(self.adapters.values())
        started: list[Adapter] = []
        tasks = [asyncio.create_task(self._start_adapter(a, started), name=f"start {a.platform}")
                 for a in adapters]
        try:
            await asyncio.gather(*tasks)
        except BaseException:  # a refusal, or the start itself cancelled (SIGTERM)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for adapter in started:
                with contextlib.suppress(Exception):
                    await adapter.stop()
            self.connecting.clear()
            await self._release_roles()
            await self.db.close()
            raise
        self.relay = Relay(self.core, self.adapters, metrics=self.metrics, budget=self.budget,
                           backoff=self._relay_backoff)
        self._relay_task = asyncio.create_task(self.relay.run(), name="relay")
        self._scheduler_task = asyncio.create_task(
            self._lead(self.leaders[SCHEDULER_ROLE], self.scheduler.run), name="scheduler")
        self._keeper_task = asyncio.create_task(self.privacy_keeper.run(), name="privacy-keeper")
        self._outbox_task = asyncio.create_task(self.outbox_keeper.run(), name="outbox-keeper")

    def _learn_sends(self, sent: dict[tuple[str, str], list[float]]) -> None:
        """Chats this worker took over from another: their recent sends count in its budget."""
        for (platform, chat_id), ages in sent.items():
            self.budget.learn(ChannelRef(platform, chat_id), ages)

    async def roles(self) -> list[str]:
        """The single-holder roles this worker holds now (for /healthz and /metrics)."""
        return [role for role, leader in self.leaders.items() if leader.held]

    async def _lead(self, leader: Leadership, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``work`` only while this worker leads ``leader``'s role: wait to lead, run
        it, and stop it (waiting to lead again) if the lock's connection is lost."""
        while True:
            await leader.wait()
            task = asyncio.create_task(work(), name=leader.role)
            try:
                while await leader.leads():
                    await asyncio.wait({task}, timeout=2.0)
                    if task.done():
                        return task.result()
                log.warning("this worker lost the %s role; waiting to take it again", leader.role)
            finally:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    async def _release_roles(self) -> None:
        for leader in self.leaders.values():
            with contextlib.suppress(Exception):
                await leader.release()

    async def _start_adapter(self, adapter: Adapter, started: list[Adapter]) -> None:
        """Start one adapter, trying again while its platform cannot be reached."""
        delay = self.connect_backoff.base
        attempt = 0
        while True:
            attempt += 1
            try:
                await adapter.start(self.core)
            except (errors.PermanentError, asyncio.CancelledError):
                # Refused, or another platform was (or a stop signal came): close what this
                # attempt opened before giving up.
                with contextlib.suppress(Exception):
                    await adapter.stop()
                raise
            except Exception as err:
                with contextlib.suppress(Exception):
                    await adapter.stop()  # whatever the failed attempt had opened
                reason = " ".join(str(err).split())[:300] or type(err).__name__
                self.connecting[adapter.platform] = f"attempt {attempt} failed: {reason}"
                log.warning("%s: cannot connect (%s: %s); trying again in %.1f s (attempt %d)",
                            adapter.platform, type(err).__name__, reason, delay, attempt)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.connect_backoff.cap)
                continue
            self.connecting.pop(adapter.platform, None)
            started.append(adapter)
            if attempt > 1:
                log.info("%s connected after %d attempts", adapter.platform, attempt)
            return

    async def stop(self, grace: float = 10.0) -> None:
        """Stop intake, deliver what is due (bounded by ``grace``), then stop the adapters
        and close the database.

        In that order so that nothing is handed to a closed client: an adapter that can
        (:class:`~bridgebot.core.adapter.CanStopIntake`) stops taking events first and keeps
        its client open while the relay delivers what is due and answers waiting out a 429
        are sent; only then are the adapters stopped. Calling it again does nothing.
        """
        if self._stopped:
            return
        self._stopped = True
        if self._scheduler_task is not None:  # nothing new is scheduled while stopping
            self._scheduler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler_task
            self._scheduler_task = None
        for task in (self._keeper_task, self._outbox_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._keeper_task = self._outbox_task = None
        adapters = list(self.adapters.values())
        for adapter in adapters:
            if isinstance(adapter, CanStopIntake):
                try:
                    await adapter.stop_intake()
                except Exception:
                    log.exception("stopping the %s adapter's intake failed", adapter.platform)
        await self._release_roles()  # another worker takes the roles over at once
        # The relay's due deliveries and the answers waiting out a 429, side by side, while
        # every client is still open.
        await asyncio.gather(
            self.budget.settle(min(grace, 5.0)),
            self.relay.stop(grace) if self.relay is not None else asyncio.sleep(0),
        )
        if self._relay_task is not None:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay_task
            self._relay_task = None
        if isinstance(self.db, PgDatabase):  # the others deliver there from now on
            with contextlib.suppress(Exception):
                await self.db.hand_on()
        for adapter in reversed(adapters):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", adapter.platform)
        await self._release_roles()
        await self.core.settle()
        await self.db.close()

    async def drain(self, timeout: float = 10.0) -> None:
        assert self.relay is not None, "runtime not started"
        await self.relay.drain(timeout)

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def from_settings(settings: Settings) -> Runtime:
    """The runtime a configuration describes (database, bridges, facilitators), no adapters."""
    return Runtime(
        settings.database, settings.all_bridges(), facilitators=settings.facilitator_pairs(),
        help_text=settings.help_text, archive_url=settings.archive_url,
        outbox_retention=timedelta(hours=settings.outbox_retention_hours),
        files_dir=settings.files_dir,
    )


# How long the files folder may take to prove itself writable at start (a network mount).
FILES_CHECK_SECONDS = 10.0

_settled = False


def settle_heap() -> None:
    """Leave what the process made while starting out of the garbage collector's full
    collections, once per process (``bridgebot run`` once started; an operator command,
    ``export`` and ``serve`` among them, once its database is open).

    A full collection walks every object the collector tracks; after start that is about
    90,000 (the modules, classes and functions of bridgebot, its platforms' libraries and
    aiohttp), which live as long as the process. Exporting or serving a 10,000-post topic
    makes some 40,000 more and set one off every second time: 45-50 ms of walking the
    startup objects again (up to 120 ms on a busy machine), a quarter of the export.
    ``gc.freeze`` moves them to a generation no collection visits. The full collection
    first (~47 ms, once) is not for garbage (it finds none here) but for the collector's
    count of long-lived objects, which only a full collection sets: the next one is due
    when a quarter as many again have survived, and the frozen objects stay in that count.
    Frozen without it, a 10k-post html export took 0.23-0.24 s of CPU in three bench runs,
    against 0.15-0.21 s with it (full collections came far more often). Frozen objects are
    still freed when their last reference goes; only a reference cycle among them would
    stay.
    """
    global _settled
    if _settled:
        return
    _settled = True
    gc.collect()
    gc.freeze()


def _missing_file(db: object) -> Path | None:
    """The SQLite file ``db`` names when it is not there (None: it is, or no file is named)."""
    if not isinstance(db, Database) or str(db.path) == ":memory:":
        return None
    path = Path(str(db.path))
    return None if path.exists() else path


async def with_database(settings: Settings, work: Callable[[Runtime], Awaitable[int]], *,
                        existing: bool = False) -> int:
    """Run an operator command's ``work`` on the opened database (no adapters, no relay).

    ``existing``: the command reads or changes what is there (``topics``, ``outbox``,
    ``export``, ``forget``, ``topic schedule``), so a SQLite file that is not there (a
    command run from another folder, a mistyped path) is one line, exit 2, instead of a
    new empty database made to answer "no topics yet"."""
    runtime = from_settings(settings)
    if existing and (missing := _missing_file(runtime.db)) is not None:
        raise DatabaseUnusable(f"there is no database at {missing} (set `database` or "
                               "BRIDGEBOT_DATABASE)")
    await runtime.open(apply_settings=False)  # reads and operator actions, never settings
    settle_heap()
    try:
        return await work(runtime)
    finally:
        await runtime.db.close()
