"""``/healthz`` and ``/metrics`` for whoever runs bridgebot (Docker, systemd, Prometheus).

Off unless the ``[health]`` settings section is present. ``/healthz`` answers
200 ``ok`` only when the database answers a query, the files folder can be written and
every platform adapter is connected; otherwise 503 and one line per thing that is down, so an orchestrator
restarts a bot that lost its platform and an operator sees why. ``/metrics`` is the
Prometheus text format, written by ``prometheus_client``: posts, deliveries and the
outbox depth per platform come from the database (they survive restarts); 429s, retries,
outcomes per platform and the mirror-latency histogram from
:class:`~bridgebot.core.metrics.Metrics`; the process (CPU, memory, open files) and Python
series from the library's own collectors.

Whether an adapter is up is its own answer: the optional ``health_problem()``
capability (core/adapter.py), which reads what its library exposes; an adapter may
instead offer ``is_up()`` and it is preferred.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from bridgebot.core.adapter import CanReportHealth
from bridgebot.core.models import DeliveryState, TopicStatus
from bridgebot.store.files import FileStore
from bridgebot.store.postgres import PgDatabase

if TYPE_CHECKING:
    from bridgebot.runtime import Runtime

log = logging.getLogger(__name__)

PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # what generate_latest writes
DB_TIMEOUT = 2.0  # a database that takes longer than this to count is not healthy


def adapter_problem(adapter: Any) -> str | None:
    """Why a platform adapter is not up, or None when it is (or cannot tell)."""
    platform = getattr(adapter, "platform", "?")
    probe = getattr(adapter, "is_up", None)
    if callable(probe):
        return None if probe() else f"{platform}: not connected"
    if isinstance(adapter, CanReportHealth):
        return adapter.health_problem()
    return None


@dataclass
class Snapshot:
    """Everything ``/healthz`` and ``/metrics`` report, gathered once per request."""

    database_error: str | None = None
    platforms: dict[str, str | None] = field(default_factory=dict)  # platform -> problem
    posts: int = 0
    topics: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)  # platform -> deliveries waiting
    # This worker among several on PostgreSQL: its name and the chats it delivers to, per
    # platform (None: the only process, SQLite, which delivers to every chat).
    worker: str | None = None
    delivers_to: dict[str, int] = field(default_factory=dict)
    # The single-holder roles this worker holds (PostgreSQL only: "scheduler",
    # "telegram-polling"); None with SQLite, whose one process holds them all.
    roles: list[str] | None = None
    # Why posts' files cannot be stored (the files folder not writable: a network mount
    # gone, a full or read-only disk); None when a probe file was written and removed.
    files_error: str | None = None

    @property
    def role_line(self) -> str | None:
        """``roles: scheduler, telegram-polling, deliveries: 3 chats`` for /healthz."""
        if self.roles is None:
            return None
        chats = sum(self.delivers_to.values())
        return "roles: " + ", ".join([*self.roles, f"deliveries: {chats} chats"])

    @property
    def problems(self) -> list[str]:
        found = [f"database: {self.database_error}"] if self.database_error else []
        found += [f"files: {self.files_error}"] if self.files_error else []
        return found + [p for p in self.platforms.values() if p]


async def snapshot(runtime: Runtime) -> Snapshot:
    """Probe the database (with a timeout) and every adapter."""
    snap = Snapshot(platforms={
        name: (f"{name}: not connected yet ({runtime.connecting[name]}); trying again"
               if name in runtime.connecting else adapter_problem(a))
        for name, a in runtime.adapters.items()})
    try:
        async with asyncio.timeout(DB_TIMEOUT):
            await _count(runtime, snap)
    except TimeoutError:
        snap.database_error = f"no answer within {DB_TIMEOUT:.0f} s"
    except Exception as err:  # a closed or broken database, whatever the driver raises
        snap.database_error = str(err) or type(err).__name__
    snap.files_error = await _files_problem(runtime)
    return snap


async def _files_problem(runtime: Runtime) -> str | None:
    """Whether this worker can still store a post's file (a probe written and removed in
    the files folder), within the database's timeout (a hung network mount)."""
    files = runtime.storage.files
    return await files.problem(DB_TIMEOUT) if isinstance(files, FileStore) else None


async def _count(runtime: Runtime, snap: Snapshot) -> None:
    store = runtime.store
    topics = await store.topics()
    snap.topics = {status.value: 0 for status in TopicStatus}
    for topic in topics:
        snap.topics[topic.status.value] = snap.topics.get(topic.status.value, 0) + 1
        snap.posts += (await store.stats(topic.id, None)).posts
    pending = await store.outbox([DeliveryState.PENDING])
    for entry in pending:
        snap.depth[entry.target.platform] = snap.depth.get(entry.target.platform, 0) + 1
    if isinstance(runtime.db, PgDatabase):
        snap.worker = runtime.db.worker
        snap.roles = await runtime.roles()
        for platform, _ in await runtime.db.leased():
            snap.delivers_to[platform] = snap.delivers_to.get(platform, 0) + 1
    snap.deliveries = {
        "pending": len(pending),
        "retrying": sum(1 for e in pending if e.last_error),
        "dead": await store.dead_count(),
    }


class _Collector:
    """The series of one scrape, from its snapshot and the process-lifetime counters."""

    def __init__(self, runtime: Runtime, snap: Snapshot) -> None:
        self.runtime = runtime
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        snap, counters = self.snap, self.runtime.metrics
        yield GaugeMetricFamily("bridgebot_up", "1 when the database, the files folder and every "
                                "platform adapter are up.", value=float(not snap.problems))
        yield GaugeMetricFamily("bridgebot_database_up", "1 when the database answers.",
                                value=float(snap.database_error is None))
        yield GaugeMetricFamily("bridgebot_files_writable", "1 when posts' files can be stored "
                                "(the files folder, files_dir).", value=float(snap.files_error is None))
        up = GaugeMetricFamily("bridgebot_platform_up", "1 when the platform adapter is connected.",
                               labels=["platform"])
        for name, problem in sorted(snap.platforms.items()):
            up.add_metric([name], float(problem is None))
        yield up
        if snap.database_error is None:
            yield GaugeMetricFamily("bridgebot_posts_accepted",
                                    "Posts stored, each topic's opening included (hidden posts excluded).",
                                    value=float(snap.posts))
            topics = GaugeMetricFamily("bridgebot_topics", "Topics by status.", labels=["status"])
            for status, n in sorted(snap.topics.items()):
                topics.add_metric([status], float(n))
            yield topics
            deliveries = GaugeMetricFamily(
                "bridgebot_deliveries", "Outbox deliveries: pending (retrying included), retrying "
                "(failed, will retry), dead (failed for good).", labels=["state"])
            for state, n in sorted(snap.deliveries.items()):
                deliveries.add_metric([state], float(n))
            yield deliveries
            if snap.worker is not None:
                role = GaugeMetricFamily(
                    "bridgebot_worker_delivers_to", "Chats this worker delivers to now (each chat "
                    "leased to one worker of those sharing the PostgreSQL database), per platform.",
                    labels=["worker", "platform"])
                for platform in sorted({*snap.delivers_to, *snap.platforms}):
                    role.add_metric([snap.worker, platform], float(snap.delivers_to.get(platform, 0)))
                yield role
                leads = GaugeMetricFamily(
                    "bridgebot_worker_role", "1 for each role only one worker holds at a time "
                    "(scheduler, telegram-polling, discord-gateway or discord-shard-N) that this worker "
                    "holds now, else 0.",
                    labels=["worker", "role"])
                for name in sorted(self.runtime.leaders):
                    leads.add_metric([snap.worker, name], float(name in (snap.roles or [])))
                yield leads
            depth = GaugeMetricFamily("bridgebot_outbox_depth",
                                      "Deliveries waiting to be sent, per target platform.",
                                      labels=["platform"])
            for platform in sorted(set(snap.platforms) | set(snap.depth)):
                depth.add_metric([platform], float(snap.depth.get(platform, 0)))
            yield depth
        for name, help_, value in (
            ("bridgebot_rate_limited", "429 (rate limit) answers from the platforms since start.",
             counters.rate_limited),
            ("bridgebot_retries", "Deliveries put back for another attempt after a transient error "
             "since start.", counters.retried),
            ("bridgebot_buried", "Deliveries that failed for good since start.", counters.dead),
            ("bridgebot_maybe_duplicated", "Sends retried once after the platform did not answer in "
             "time (each may have left one untracked copy) since start.", counters.maybe_duplicated),
            ("bridgebot_delivered", "Deliveries confirmed by a platform since start.", counters.delivered),
        ):
            yield CounterMetricFamily(name, help_, value=float(value))
        outcomes = CounterMetricFamily(
            "bridgebot_delivery_outcomes", "Delivery attempts since start by target platform and outcome "
            "(delivered, combined, rate_limited, retried, dead).", labels=["platform", "outcome"])
        for (platform, outcome), n in sorted(counters.outcomes.items()):
            outcomes.add_metric([platform, outcome], float(n))
        yield outcomes
        yield from counters.registry.collect()  # bridgebot_mirror_latency_seconds


def render_metrics(runtime: Runtime, snap: Snapshot) -> str:
    """The Prometheus text exposition (version 0.0.4), process and Python series included."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(runtime, snap))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return generate_latest(registry).decode("utf-8")


class HealthServer:
    """A tiny aiohttp server for the two endpoints; binds where the settings say."""

    def __init__(self, runtime: Runtime, listen: str = "127.0.0.1", port: int = 8080) -> None:
        self.runtime = runtime
        self.listen = listen
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.listen, self.port).start()
        self.port = self._runner.addresses[0][1]
        log.info("health endpoint on http://%s:%d/healthz and /metrics", self.listen, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.listen}:{self.port}"

    async def _healthz(self, request: web.Request) -> web.Response:
        snap = await snapshot(self.runtime)
        roles = [snap.role_line] if snap.role_line else []
        if snap.problems:
            return web.Response(status=503, text="\n".join(["down", *snap.problems, *roles]) + "\n")
        return web.Response(text="\n".join(["ok", *roles]) + "\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        text = render_metrics(self.runtime, await snapshot(self.runtime))
        return web.Response(body=text.encode("utf-8"), headers={"Content-Type": PROMETHEUS_TYPE})
