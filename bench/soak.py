"""``python -m bench.soak``: an hour of steady discussion against ``bridgebot run``, with
the bot's memory, file descriptors, WAL and database size reported per interval.

    python -m bench.soak                                  # one hour, a line every 5 minutes
    python -m bench.soak --duration 300 --interval 30     # five minutes, a line every 30 s
    python -m bench.soak --rate 2 --markdown soak.md      # 2 posts/s; the table as markdown

Run on demand, never in CI (it is not under ``tests/``). ``bridgebot run`` is a separate
process (so its RSS is the bot's alone) against the sandbox fakes on 127.0.0.1 with their
flood control on and the platforms' real budgets in the bot. The workload is what
months are made of, at a steady pace: replies alternately from Telegram (native replies to
the topic) and Discord (in the topic's thread); every ``--visitor-every`` seconds a new
person asks ``/status`` in a private chat with the bot and writes in a group the bot is
in but that is not bridged (the chats nobody configured, that must leave no trace); every
``--rotate`` seconds the facilitator locks the topic and opens the next (confirmations
included). At the end it checks that every post was recorded and mirrored once, every
``/status`` answered, nothing pending or dead.

Targets (issue "Months of running"): RSS slope under 2 MB per hour after warm-up (the first
interval, or ``--warmup`` seconds); the database growing with posts only: bytes per post
in the second half no more than in the first. The outbox's delivered rows are deleted
after ``--outbox-retention-hours`` (at least 1, so only runs longer than that show it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import World, load_average, machine, quiet_logs, sandbox, wait_until
from bench.scale import write_config

RSS_SLOPE_TARGET = 2.0  # MB per hour, after warm-up


@dataclass
class Sample:
    elapsed: float  # seconds since the workload started
    posts_sent: int
    posts_recorded: int
    rss_mb: float
    fds: int
    wal_bytes: int
    db_bytes: int
    outbox: dict[str, int]
    visitors: int


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    sent: int = 0
    status_asked: list[tuple[int, int]] = field(default_factory=list)  # (chat, message id)
    topics: int = 0
    log: list[str] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None  # reads the bot's log lines


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _db_counts(database: Path) -> tuple[int, dict[str, int]]:
    """(posts, outbox rows by state), read-only beside the running bot."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as db:
        posts = db.execute("SELECT COUNT(*) FROM posts WHERE number > 1").fetchone()[0]
        states = dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    return int(posts), {k: int(v) for k, v in states.items()}


class Discussion:
    """The workload: topics opened and locked, replies from both platforms, visitors."""

    def __init__(self, world: World, soak: Soak) -> None:
        self.world = world
        self.soak = soak
        self.root: int | None = None  # the current topic's message in the Telegram group
        self.thread: str | None = None  # and its Discord thread

    async def open_topic(self) -> None:
        """Open the next topic; once it is on both platforms, replies go there and the one
        before is locked (its last replies are in by then), as a facilitator rotates."""
        w = self.world
        self.soak.topics += 1
        title = f"Soak {self.soak.topics}"
        w.tg.user_sends(w.group["id"], w.facilitator,
                        f"/newtopic {title}\nHow have you engaged allies perceived as non "
                        "traditional? Week after week, one topic after another.")

        def placed() -> tuple[int, str] | None:
            root = next((m["message_id"] for m in w.tg.chat_messages(w.group["id"])
                         if m.get("from", {}).get("is_bot")
                         and m.get("text", "").startswith(title + "\n")), None)
            thread = next((t["id"] for t in w.dc.threads(w.channel["id"]) if t["name"] == title),
                          None)
            return (root, thread) if root is not None and thread is not None else None

        before = self.root
        self.root, self.thread = await wait_until(placed, 300, f"topic {title} on both platforms",
                                                  interval=0.1)
        if before is not None:
            await asyncio.sleep(5)  # replies already on their way to the old topic land first
            w.tg.user_sends(w.group["id"], w.facilitator, "/lock rotating to the next topic",
                            reply_to=before)

    def reply(self) -> None:
        w, n = self.world, self.soak.sent
        text = (f"soak {n}: an answer of a usual length, about allies, the community and what "
                "worked where we are; a second sentence so it reads like a real post.")
        if n % 2 == 0 and self.root is not None:
            w.tg.user_sends(w.group["id"], w.tg_people[n % len(w.tg_people)], text,
                            reply_to=self.root)
        elif self.thread is not None:
            w.dc.user_sends(self.thread, w.dc_people[n % len(w.dc_people)], text)
        self.soak.sent += 1

    def visitor(self) -> None:
        """Someone nobody configured: a private /status and a message in an unbridged group."""
        w = self.world
        i = len(self.soak.status_asked)
        person = w.tg.add_user(f"Visitor{i}")
        private = w.tg.private_chat(person)
        asked = w.tg.user_sends(private["id"], person, "/status")
        self.soak.status_asked.append((private["id"], asked["message_id"]))
        elsewhere = w.tg.add_chat(f"Elsewhere {i}", owner=person)
        w.tg.user_sends(elsewhere["id"], person, "hello, is this thing on?")


async def _start_bot(config: Path, soak: Soak) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridgebot.cli", "--config", str(config), "run",
        cwd=config.parent, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    running = asyncio.Event()

    async def read() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            soak.log.append(line)
            del soak.log[:-200]
            if "bridgebot is running" in line:
                running.set()

    soak.reader = asyncio.create_task(read())
    async with asyncio.timeout(120):
        while not running.is_set():
            if proc.returncode is not None:
                raise RuntimeError("bridgebot run exited:\n" + "\n".join(soak.log[-20:]))
            await asyncio.sleep(0.05)
    return proc


def _sample(proc: asyncio.subprocess.Process, database: Path, soak: Soak, started: float) -> Sample:
    posts, outbox = _db_counts(database)
    return Sample(
        elapsed=time.monotonic() - started, posts_sent=soak.sent, posts_recorded=posts,
        rss_mb=_rss_mb(proc.pid), fds=len(os.listdir(f"/proc/{proc.pid}/fd")),
        wal_bytes=_size(database.with_name(database.name + "-wal")), db_bytes=_size(database),
        outbox=outbox, visitors=len(soak.status_asked))


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _line(s: Sample) -> str:
    outbox = " ".join(f"{k}={v}" for k, v in sorted(s.outbox.items()))
    return (f"{s.elapsed / 60:7.1f} min  posts {s.posts_recorded:6d}/{s.posts_sent:<6d} "
            f"RSS {s.rss_mb:6.1f} MB  fds {s.fds:3d}  WAL {s.wal_bytes / 1e6:6.2f} MB  "
            f"db {s.db_bytes / 1e6:7.2f} MB  visitors {s.visitors:4d}  outbox {outbox}")


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 2:
        return float("nan")
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in points) / var * 3600


async def soak(args: argparse.Namespace) -> int:
    result = Soak()
    with tempfile.TemporaryDirectory(prefix="bridgebot-soak-") as tmp_name, quiet_logs():
        tmp = Path(tmp_name)
        database = tmp / "bridgebot.sqlite3"
        async with sandbox(enforce_rate_limits=True) as world:
            config = write_config(tmp, world, database,
                                  extra=f"outbox_retention_hours = {args.outbox_retention_hours}")
            proc = await _start_bot(config, result)
            try:
                discussion = Discussion(world, result)
                await discussion.open_topic()
                started = time.monotonic()
                next_sample = started
                next_visitor = started + args.visitor_every
                next_rotation = started + args.rotate
                end = started + args.duration
                tick = 1.0 / args.rate
                next_post = started
                rotations: list[asyncio.Task[None]] = []
                print(f"soak: {args.duration:.0f} s at {args.rate:g} posts/s, a line every "
                      f"{args.interval:.0f} s (bridgebot run pid {proc.pid})", flush=True)
                while True:
                    now = time.monotonic()
                    if now >= next_sample:
                        sample = _sample(proc, database, result, started)
                        result.samples.append(sample)
                        print(_line(sample), flush=True)
                        next_sample += args.interval
                    if now >= end:
                        break
                    if now >= next_rotation:
                        rotations.append(asyncio.create_task(discussion.open_topic()))
                        next_rotation += args.rotate
                    if now >= next_visitor:
                        discussion.visitor()
                        next_visitor += args.visitor_every
                    if now >= next_post:
                        discussion.reply()
                        next_post += tick
                    if proc.returncode is not None:
                        raise RuntimeError("bridgebot run exited:\n" + "\n".join(result.log[-20:]))
                    await asyncio.sleep(max(0.0, min(next_post, next_sample, end) - time.monotonic()))
                # Let the last posts and answers arrive, then check nothing was lost.
                await asyncio.gather(*rotations)
                await asyncio.sleep(args.settle)
                final = _sample(proc, database, result, started)
                print(_line(final), flush=True)
                answered = sum(
                    1 for chat, asked in result.status_asked
                    if any(m.get("reply_to_message", {}).get("message_id") == asked
                           for m in world.tg.chat_messages(chat)))
                report = _report(args, result, final, answered)
                print(report)
                if args.markdown:
                    _write(Path(args.markdown), report + "\n")
                ok = (final.posts_recorded == result.sent and answered == len(result.status_asked)
                      and not final.outbox.get("pending") and not final.outbox.get("dead"))
                return 0 if ok else 1
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(proc.wait(), 30)
                    except TimeoutError:
                        proc.kill()
                        await proc.wait()
                if result.reader is not None:
                    result.reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await result.reader


def _report(args: argparse.Namespace, soak: Soak, final: Sample, answered: int) -> str:
    warm = [s for s in soak.samples if s.elapsed >= args.warmup]
    rss_slope = slope_per_hour([(s.elapsed, s.rss_mb) for s in warm])
    # Warm-up shows as a slope that falls off: the later half of the warm samples against
    # the earlier (a leak keeps its slope; a cache filling to its bound does not).
    middle = (args.warmup + args.duration) / 2
    earlier = slope_per_hour([(s.elapsed, s.rss_mb) for s in warm if s.elapsed <= middle])
    later = slope_per_hour([(s.elapsed, s.rss_mb) for s in warm if s.elapsed >= middle])
    half = [s for s in soak.samples if s.elapsed >= args.duration / 2]
    first, mid = soak.samples[0], (half[0] if half else final)
    def disk(s: Sample) -> int:  # the file and its WAL: what the posts take on disk
        return s.db_bytes + s.wal_bytes

    per_post_first = (disk(mid) - disk(first)) / max(1, mid.posts_recorded - first.posts_recorded)
    per_post_second = ((disk(final) - disk(mid))
                       / max(1, final.posts_recorded - mid.posts_recorded))
    fds = [s.fds for s in soak.samples]
    wal = [s.wal_bytes for s in soak.samples]
    lines = [
        f"## Soak: {args.duration / 60:.0f} minutes at {args.rate:g} posts/s",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| posts recorded / sent | {final.posts_recorded} / {soak.sent} | all |",
        f"| private /status answered | {answered} / {len(soak.status_asked)} | all |",
        f"| outbox at the end | {', '.join(f'{k} {v}' for k, v in sorted(final.outbox.items()))} "
        "| nothing pending or dead |",
        f"| topics opened (rotations) | {soak.topics} | |",
        f"| RSS first / last | {soak.samples[0].rss_mb:.1f} / {final.rss_mb:.1f} MB | |",
        f"| RSS slope after {args.warmup:.0f} s | {rss_slope:+.2f} MB/h | < {RSS_SLOPE_TARGET} MB/h |",
        f"| RSS slope, {args.warmup / 60:.0f}–{middle / 60:.0f} min / {middle / 60:.0f}–"
        f"{args.duration / 60:.0f} min | {earlier:+.2f} / {later:+.2f} MB/h | later "
        f"< {RSS_SLOPE_TARGET} MB/h (a leak keeps its slope) |",
        f"| file descriptors min / max | {min(fds)} / {max(fds)} | flat |",
        f"| WAL max | {max(wal) / 1e6:.2f} MB | flat |",
        f"| database first / last | {first.db_bytes / 1e6:.2f} / {final.db_bytes / 1e6:.2f} MB | |",
        f"| database + WAL bytes per post, first / second half | {per_post_first:.0f} / "
        f"{per_post_second:.0f} | second ≤ first |",
        "",
        f"Machine: {', '.join(f'{k} {v}' for k, v in machine().items())}; load {load_average()}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=3600, help="seconds of traffic (3600)")
    parser.add_argument("--interval", type=float, default=300, help="seconds between lines (300)")
    parser.add_argument("--rate", type=float, default=1.0, help="posts per second (1)")
    parser.add_argument("--visitor-every", type=float, default=10.0,
                        help="seconds between new private chats and unbridged groups (10)")
    parser.add_argument("--rotate", type=float, default=600.0,
                        help="seconds between topic rotations: lock, open the next (600)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds left out of the RSS slope (default: one interval)")
    parser.add_argument("--settle", type=float, default=20.0,
                        help="seconds to let the last deliveries arrive (20)")
    parser.add_argument("--outbox-retention-hours", type=float, default=1.0,
                        help="the bot's outbox_retention_hours (1, the least allowed)")
    parser.add_argument("--markdown", help="also write the summary table to this file")
    args = parser.parse_args(argv)
    if args.warmup is None:
        args.warmup = args.interval
    return asyncio.run(soak(args))


if __name__ == "__main__":
    raise SystemExit(main())
