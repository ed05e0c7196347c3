"""Relay throughput with 1, 2 and 4 workers on PostgreSQL against SQLite in one process
(``python -m bench.pg_relay``): deliveries per second through the real Telegram adapter
into the Telegram sandbox, when the platform limits are not the bottleneck.

How the limits are kept out of it, by name: the sandbox does not enforce Telegram's limits
(``enforce_rate_limits=False``), the adapters run without their rate budgets
(``PlatformLimits(max_length=4096)``, the tests' ``TELEGRAM_UNLIMITED``), and the posts go
to 16 target chats (bridges of two Telegram groups each, one topic open in each), so that
no one chat's order (one delivery at a time per topic and chat) is the limit either.

A PostgreSQL worker is a process of its own (``python -m bench.pg_relay worker``: a
``Runtime`` with the Telegram adapter, as ``bridgebot run`` builds it but with the budget
off), so workers do not share one interpreter's GIL. The sandbox and the burst's writer run
in this process; SQLite's runtime does too (SQLite has one writing process: the burst must
be written by the process that relays), which leaves it one core with the sandbox.

Each run: the workers started and idle, a burst of ``POSTS`` posts written at once across
the 16 chats (through the store, as intake would); the time is from the burst's start to
the last delivery's ``done_at``. Ingest runs alongside, so a run measures min(ingest,
relay); the ingest figures of ``bench.postgres`` say which one that is.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import load_average, quiet_logs
from bridgebot.adapters.telegram.adapter import TelegramAdapter
from bridgebot.adapters.telegram.settings import TelegramSettings
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.telegram.server import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
CHATS = 16
POSTS = 640
UNLIMITED = PlatformLimits(max_length=4096)  # Telegram's budget off (see the docstring)


def _adapter(url: str, token: str) -> TelegramAdapter:
    return TelegramAdapter(TelegramSettings(token=token, base_url=url), poll_timeout=1,
                           limits=UNLIMITED)


def _bridges(pairs: list[tuple[int, int]]) -> list[Bridge]:
    return [Bridge(f"b{i}", (ChannelRef("telegram", str(a)), ChannelRef("telegram", str(b))))
            for i, (a, b) in enumerate(pairs)]


async def worker(spec: dict[str, Any]) -> None:
    """One PostgreSQL worker until stdin closes: says "ready" once its relay runs."""
    runtime = Runtime(spec["database"], _bridges(spec["pairs"]))
    runtime.add_adapter(_adapter(spec["url"], spec["token"]))
    await runtime.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runtime.stop()


async def _setup(tg: FakeTelegram, database: Path | str, token: str,
                 pairs: list[tuple[int, int]], kristin: dict[str, Any]) -> dict[int, int]:
    """One topic open in each bridge; returns bridge index -> topic id."""
    runtime = Runtime(database, _bridges(pairs), facilitators=[("telegram", str(kristin["id"]))])
    runtime.add_adapter(_adapter(tg.url, token))
    await runtime.start()
    try:
        author = Author("telegram", str(kristin["id"]), "Kristin")
        topics = {i: (await runtime.core.open_topic(
            author, ChannelRef("telegram", str(a)), f"Topic {i}", "Your view?")).id
            for i, (a, _) in enumerate(pairs)}
        await runtime.drain(60)
    finally:
        await runtime.stop()
    return topics


async def _burst(runtime: Runtime, pairs: list[tuple[int, int]], topics: dict[int, int],
                 run: int) -> datetime:
    """``POSTS`` posts from the second group of each bridge, 32 writers at once."""
    started = datetime.now(UTC)
    queue = list(range(POSTS))

    async def writer() -> None:
        while queue:
            n = queue.pop()
            i = n % len(pairs)
            await runtime.store.add_post(
                topic_id=topics[i], author=Author("telegram", f"u{n % 50}", f"Person {n % 50}"),
                text=f"run {run} post {n}", subject=None, parent_id=None, prompt_id=None,
                created_at=datetime.now(UTC), origin=ChannelRef("telegram", str(pairs[i][1])),
                message_id=f"r{run}-{n}", targets=[ChannelRef("telegram", str(pairs[i][0]))])

    await asyncio.gather(*(writer() for _ in range(32)))
    runtime.core.wake_relay()  # SQLite: this process's relay (PostgreSQL: NOTIFY did)
    return started


async def _finished(runtime: Runtime, run: int, timeout: float = 300) -> datetime:
    """When the last of the run's deliveries was done (its ``done_at``)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await runtime.db.fetch(
            "SELECT COUNT(*), MAX(o.done_at) FROM outbox o JOIN posts p ON p.id = o.post_id "
            "WHERE o.action = 'post' AND o.state = 'done' AND p.text LIKE ?", (f"run {run} post %",))
        count, last = rows[0][0], rows[0][1]
        if count >= POSTS:
            return datetime.fromisoformat(last)
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {count} of {POSTS} deliveries done")
        await asyncio.sleep(0.2)


async def _spawn(spec: dict[str, Any], count: int) -> list[asyncio.subprocess.Process]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    processes = []
    for _ in range(count):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.pg_relay", "worker", json.dumps(spec),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            cwd=ROOT)
        processes.append(process)
    for process in processes:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"a worker did not start: {line!r}")
    return processes


async def _stop(processes: list[asyncio.subprocess.Process]) -> None:
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
    for process in processes:
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str]:
    """``/proc/PID/stat`` after the command's name: [state, ppid, ..., utime (11), stime,
    cutime, cstime]; empty when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _cpu(pids: list[int], postmaster: int | None) -> dict[str, float]:
    """CPU seconds so far of this process (the sandbox, the burst's writer and, for SQLite,
    the runtime), of the workers, and of the PostgreSQL server (the postmaster with its
    reaped children, and its live backends)."""
    def own(fields: list[str]) -> float:
        return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0

    used = {"bench": own(_stat(os.getpid())), "workers": sum(own(_stat(p)) for p in pids),
            "postgres": 0.0}
    if postmaster is not None:
        main = _stat(postmaster)
        used["postgres"] = own(main) + ((int(main[13]) + int(main[14])) / TICK if main else 0.0)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (fields := _stat(entry.name)) and int(fields[1]) == postmaster:
                used["postgres"] += own(fields)
    return used


async def relay(database: Path | str, workers: int, run: int,
                postmaster: int | None = None) -> tuple[float, dict[str, float]]:
    """Deliveries per second of one burst: ``workers`` processes on PostgreSQL, or (0) the
    SQLite runtime in this process; and the cores each side kept busy meanwhile."""
    async with FakeTelegram() as tg:
        token = tg.add_bot(username="bridgebot_bench_bot")
        kristin = tg.add_user("Kristin", "Antin")
        pairs = [(tg.add_chat(f"Allies {i}", owner=kristin)["id"],
                  tg.add_chat(f"Allies {i} too", owner=kristin)["id"]) for i in range(CHATS)]
        topics = await _setup(tg, database, token, pairs, kristin)
        writer = Runtime(database, _bridges(pairs))
        processes: list[asyncio.subprocess.Process] = []
        if workers:
            await writer.open()
            processes = await _spawn({"database": str(database), "url": tg.url, "token": token,
                                      "pairs": pairs}, workers)
        else:
            writer.add_adapter(_adapter(tg.url, token))
            await writer.start()
        pids = [p.pid for p in processes]
        try:
            before, clock = _cpu(pids, postmaster), time.monotonic()
            started = await _burst(writer, pairs, topics, run)
            finished = await _finished(writer, run)
            after, took = _cpu(pids, postmaster), time.monotonic() - clock
        finally:
            await _stop(processes)
            if workers:
                await writer.db.close()
            else:
                await writer.stop()
    return (POSTS / (finished - started).total_seconds(),
            {k: (after[k] - before[k]) / took for k in after})


sys.path.insert(0, str(ROOT))
from tests.auxil.postgres import PostgresServer, missing_reason  # noqa: E402


async def main(rounds: int = 3) -> int:
    if (reason := missing_reason()) is not None:
        print(f"bench.pg_relay: {reason}", file=sys.stderr)
        return 1
    server = PostgresServer()
    server.start(durable=True)
    postmaster = int((server.data / "db" / "postmaster.pid").read_text().split()[0])
    rates: dict[int, list[float]] = {0: [], 1: [], 2: [], 4: []}
    cores: dict[int, list[dict[str, float]]] = {n: [] for n in rates}
    loads: list[str] = []
    try:
        for r in range(rounds):  # alternated, so a change in the machine's load hits all alike
            for n in rates:
                if n == 0:
                    with tempfile.TemporaryDirectory() as tmp:
                        rate, used = await relay(Path(tmp) / "bench.sqlite3", 0, r)
                else:
                    rate, used = await relay(server.fresh(), n, r, postmaster)
                rates[n].append(rate)
                cores[n].append(used)
            loads.append(load_average())
    finally:
        server.stop()
    sqlite = statistics.median(rates[0])
    one = statistics.median(rates[1])
    print(f"relay, {POSTS} posts to {CHATS} Telegram chats, budgets and sandbox limits off "
          f"(deliveries/s, median of {rounds}; load averages after each round: {'; '.join(loads)}):")
    for n in rates:
        rate = statistics.median(rates[n])
        busy = {k: statistics.median(c[k] for c in cores[n]) for k in cores[n][0]}
        name = "SQLite, one process   " if n == 0 else f"PostgreSQL, {n} worker{'s' if n > 1 else ' '}  "
        ratios = "1.00x SQLite" if n == 0 else f"{rate / sqlite:.2f}x SQLite, {rate / one:.2f}x 1 worker"
        print(f"  {name} {rate:8.0f}   {ratios}   runs {[round(x) for x in rates[n]]}")
        print(f"      cores busy: {sum(busy.values()):.2f} of {os.cpu_count()} (bench and sandbox "
              f"{busy['bench']:.2f}, workers {busy['workers']:.2f}, PostgreSQL {busy['postgres']:.2f})")
    print(_ceiling(rates, cores))
    return 0


def _ceiling(rates: dict[int, list[float]], cores: dict[int, list[dict[str, float]]]) -> str:
    """How close two workers came to what this machine allows them.

    The worker, the PostgreSQL server, the sandbox and the burst's writer share the
    machine's cores. With one worker they keep ``b1`` cores busy, so two workers can at most
    use all of them: ``cores / b1`` times one worker's rate, and only if a delivery costs
    two workers no more CPU than it costs one (it does cost more: the second line says by
    how much)."""
    def busy(n: int) -> float:
        return statistics.median(sum(c.values()) for c in cores[n])

    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    total = os.cpu_count() or 1
    ceiling = total / busy(1)
    cost = {n: busy(n) / statistics.median(rates[n]) * 1000 for n in (1, 2)}
    return (f"  ceiling: with 1 worker {busy(1):.2f} of {total} cores are busy, so 2 workers can "
            f"reach at most {ceiling:.2f}x 1 worker on this machine even with no overhead; "
            f"measured {two / one:.2f}x ({two / one / ceiling:.0%} of the ceiling)\n"
            f"      CPU per delivery, all processes: {cost[1]:.1f} ms with 1 worker, "
            f"{cost[2]:.1f} ms with 2 ({cost[2] / cost[1] - 1:+.0%})")


if __name__ == "__main__":
    with quiet_logs():
        if sys.argv[1:2] == ["worker"]:
            asyncio.run(worker(json.loads(sys.argv[2])))
        else:
            sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
