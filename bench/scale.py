"""Memory, ``/status`` latency and startup with 100,000 posts across 1,000 topics.

The database is generated with plain sqlite3 into bridgebot's own schema (created by
opening :class:`bridgebot.store.db.Database` once, so it follows the current
migrations; columns are named, and tables a migration derives are filled as it does),
consistently: every topic on one bridge of a Telegram group and a Discord text
channel (a thread per topic, which also exists in the fake Discord), an opening post
and 99 replies per topic from 2,000 participants alternating between the platforms,
each reply with its original and its mirror in the message map and a done outbox
row, the topic openings' messages and outbox rows, and read markers. All topics are
open (the catch-up reads every open topic's thread at start: the heavy case). No
ANALYZE is run: bridgebot does not run it either.

``/status`` is timed two ways: in-process (``Discussions.status`` for random topics
and readers, reached the way a command finds its topic: a reply to the topic's
Telegram message, or inside its Discord thread) against the target; and as a
Telegram ``/status`` command round trip against ``bridgebot run`` (fake Telegram
receives the command → fake Telegram records the answer), for context. The statements
``/status`` runs are captured with SQLite's trace callback and explained with
``EXPLAIN QUERY PLAN``: a plan line starting with ``SCAN`` is a full scan.

Memory and startup use ``bridgebot run`` as a subprocess against the fakes with a TOML
config, as ``tests/test_crash.py`` does, so the figures include the real imports,
settings, adapters with their real budgets, and discord.py's gateway start. Ready is
the log line ``bridgebot is running`` (both platforms connected, relay started).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import Row, World, median, percentile, quiet_logs, sandbox, wait_until
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.store.db import Database

TOPICS = 1000
POSTS = 100_000
PEOPLE = 2000  # half on each platform
RSS_TARGET_MB = 150.0
STATUS_P99_TARGET_MS = 10.0
STARTUP_TARGET_S = 2.0
DISCORD_EPOCH_MS = 1_420_070_400_000
TG_FIRST_ID = 1_000_000  # generated Telegram ids stay clear of the ids the fake hands out
LOREM = (
    "We worked with religious leaders and with local businesses, people nobody expected "
    "to stand with human rights defenders. What made it work was listening first: their "
    "interests, their language, their fears. Trust took months, and a shared small win "
    "did more than any statement. In Jordan the ministry staff became our best advocates "
    "once they saw the data; in Kenya it was the taxi drivers' association. "
) * 3


@dataclass
class Layout:
    """Where the generated topics live: chats, threads and Telegram root message ids."""

    tg_chat: str
    dc_channel: str
    dc_threads: list[str]  # index i: topic i + 1
    tg_roots: list[int] = field(default_factory=list)
    tg_people: list[str] = field(default_factory=list)
    dc_people: list[str] = field(default_factory=list)

    @property
    def bridge(self) -> Bridge:
        return Bridge("bench", (ChannelRef("telegram", self.tg_chat),
                                ChannelRef("discord", self.dc_channel)))


def _snowflake(ms_ago: float, seq: int) -> str:
    ms = int(time.time() * 1000 - ms_ago) - DISCORD_EPOCH_MS
    return str((ms << 22) | (seq & 0x3FFFFF))


async def _create_schema(path: Path) -> None:
    db = Database(path)
    await db.open()
    await db.close()


def build_database(path: Path, layout: Layout, topics: int = TOPICS, posts: int = POSTS,
                   people: int = PEOPLE, seed: int = 8) -> None:
    """Fill bridgebot's schema with ``posts`` posts over ``topics`` topics, consistently."""
    asyncio.run(_create_schema(path))
    rnd = random.Random(seed)
    per_topic = posts // topics
    start = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / posts
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # generation only; bridgebot reopens with FULL
    conn.execute("BEGIN")
    participants = [(1, "telegram", "42", "Kristin Antin", start.isoformat())]
    for k in range(people):
        platform = "telegram" if k % 2 == 0 else "discord"
        user_id = str(500_000_000 + k) if platform == "telegram" else str(9_000_000_000 + k)
        participants.append((k + 2, platform, user_id, f"{platform.title()} Person {k}",
                             start.isoformat()))
        (layout.tg_people if platform == "telegram" else layout.dc_people).append(user_id)
    conn.executemany("INSERT INTO participants (id, platform, user_id, display_name, first_seen) "
                     "VALUES (?, ?, ?, ?, ?)", participants)
    topic_rows, post_rows, channel_rows, outbox_rows, map_rows = [], [], [], [], []
    post_id = outbox_id = map_id = 0
    tg_id = TG_FIRST_ID
    seq = 0
    for t in range(1, topics + 1):
        opened = start + step * (t - 1) * per_topic
        thread = layout.dc_threads[t - 1]
        topic_rows.append((t, "bench", f"Topic {t}: engaging allies", LOREM[:400], "open",
                           "Kristin Antin", opened.isoformat(), None, None, None))
        first_post = post_id + 1
        tg_root, dc_starter = tg_id, _snowflake(1000.0 * (posts - post_id), seq)
        tg_id, seq = tg_id + 1, seq + 1
        layout.tg_roots.append(tg_root)
        channel_rows += [(t, "telegram", layout.tg_chat, None, str(tg_root)),
                         (t, "discord", layout.dc_channel, thread, dc_starter)]
        for platform, chat, message, where in (("telegram", layout.tg_chat, str(tg_root), None),
                                               ("discord", layout.dc_channel, dc_starter, thread)):
            outbox_id += 1
            outbox_rows.append((outbox_id, t, "open_topic", platform, chat, None, None, "done", 1,
                                0, None, opened.isoformat(), opened.isoformat(), None))
            map_id += 1
            map_rows.append((map_id, platform, chat, message, where, t, None, first_post, 0, 1,
                             outbox_id))
        for number in range(1, per_topic + 1):
            post_id += 1
            at = (opened + step * number).isoformat()
            if number == 1:
                post_rows.append((post_id, t, 1, 1, "telegram", LOREM[:400], f"Topic {t}", None,
                                  None, at, None, 0, None))
                continue
            k = rnd.randrange(people)
            platform = "telegram" if k % 2 == 0 else "discord"
            parent = first_post + rnd.randrange(1, number - 1) if number > 2 and rnd.random() < 0.4 \
                else None
            offset = rnd.randrange(0, 600)
            text = f"Post {number} in topic {t}. " + LOREM[offset:offset + rnd.randrange(80, 700)]
            post_rows.append((post_id, t, number, k + 2, platform, text, None, parent, None, at,
                              None, 0, None))
            tg_message, dc_message = str(tg_id), _snowflake(1000.0 * (posts - post_id), seq)
            tg_id, seq = tg_id + 1, seq + 1
            other = "discord" if platform == "telegram" else "telegram"
            outbox_id += 1
            outbox_rows.append((outbox_id, t, "post", other,
                                layout.dc_channel if other == "discord" else layout.tg_chat,
                                None, post_id, "done", 1, 0, None, at, at, None))
            for where_platform, message in (("telegram", tg_message), ("discord", dc_message)):
                mirrored = int(where_platform != platform)
                map_id += 1
                map_rows.append((
                    map_id, where_platform,
                    layout.tg_chat if where_platform == "telegram" else layout.dc_channel,
                    message, thread if where_platform == "discord" else None, t, None, post_id,
                    0, mirrored, outbox_id if mirrored else None))
    # Columns named: later migrations add nullable columns, which keep their defaults here.
    conn.executemany(
        "INSERT INTO topics (id, bridge, title, introduction, status, opened_by, opened_at, "
        "locked_by, locked_at, lock_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", topic_rows)
    conn.executemany(
        "INSERT INTO posts (id, topic_id, number, participant_id, origin_platform, text, subject, "
        "parent_id, prompt_id, created_at, edited_at, hidden, hidden_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", post_rows)
    conn.executemany(
        "INSERT INTO topic_channels (topic_id, platform, chat_id, thread_id, root_message_id) "
        "VALUES (?, ?, ?, ?, ?)", channel_rows)
    conn.executemany(
        "INSERT INTO outbox (id, topic_id, action, platform, chat_id, prompt_id, post_id, state, "
        "attempts, not_before, last_error, created_at, done_at, notice) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", outbox_rows)
    conn.executemany(
        "INSERT INTO message_map (id, platform, chat_id, message_id, thread_id, topic_id, prompt_id, "
        "post_id, part, mirrored, delivery_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", map_rows)
    markers = {(rnd.randrange(2, people + 2), rnd.randrange(1, topics + 1)) for _ in range(people * 10)}
    conn.executemany("INSERT INTO read_markers (participant_id, topic_id, last_read_number) "
                     "VALUES (?, ?, ?)",
                     [(p, t, rnd.randrange(1, per_topic + 1)) for p, t in sorted(markers)])
    _derived(conn)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _derived(conn: sqlite3.Connection) -> None:
    """Tables newer schema versions derive from posts, filled as their migration does
    (schema 4: per-topic pseudonyms numbered by first post). Update this when a migration
    derives something new from existing rows."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "pseudonyms" in tables:
        conn.execute(
            "INSERT INTO pseudonyms (topic_id, participant_id, number) "
            "SELECT topic_id, participant_id, ROW_NUMBER() OVER (PARTITION BY topic_id "
            "ORDER BY MIN(number)) FROM posts WHERE number > 1 GROUP BY topic_id, participant_id")


# -- /status in-process ---------------------------------------------------------------------


Plans = list[tuple[str, list[str]]]  # (statement, EXPLAIN QUERY PLAN lines)


def full_scans(plans: Plans) -> list[str]:
    """Plan lines that read a whole table or index."""
    return [f"{sql} -> {line}" for sql, lines in plans for line in lines
            if line.startswith("SCAN ") and not line.startswith("SCAN CONSTANT")]


@dataclass
class StatusResult:
    latencies: list[float]  # ms per Discussions.status call
    plans: Plans  # what /status runs
    startup_plans: Plans  # what the relay and the Discord catch-up run at start
    writes: list[float] = field(default_factory=list)  # ms: the two commits /status makes


def _normalise(sql: str) -> str:
    """Statements with their literal values replaced, so repeats are explained once."""
    return re.sub(r"'[^']*'|\b\d+(\.\d+)?\b", "?", " ".join(sql.split()))


async def _trace(runtime: Runtime, callback: Any) -> None:
    """Install a trace callback on both connections (None removes it)."""
    await runtime.db.reader.set_trace_callback(callback)
    async with runtime.db.transaction() as tx:  # the writer connection, through its public door
        await tx.set_trace_callback(callback)


async def status_latency(path: Path, layout: Layout, calls: int, seed: int = 11) -> StatusResult:
    """Time ``Discussions.status`` for random (topic, reader, platform); capture its SQL."""
    rnd = random.Random(seed)
    runtime = Runtime(path, [layout.bridge])
    await runtime.open()
    try:
        def place(i: int) -> tuple[Author, ChannelRef, str | None]:
            topic = rnd.randrange(len(layout.dc_threads))
            if i % 2 == 0:
                reader = Author("telegram", rnd.choice(layout.tg_people), "Reader")
                return reader, ChannelRef("telegram", layout.tg_chat), str(layout.tg_roots[topic])
            reader = Author("discord", rnd.choice(layout.dc_people), "Reader")
            return reader, ChannelRef("discord", layout.dc_channel, layout.dc_threads[topic]), None

        statements: list[str] = []
        await _trace(runtime, statements.append)
        for i in range(2):  # one command of each kind, traced
            reader, where, reply_to = place(i)
            await runtime.core.status(reader, where, reply_to)
        await _trace(runtime, None)
        latencies: list[float] = []
        for i in range(calls):
            reader, where, reply_to = place(i)
            started = time.perf_counter()
            await runtime.core.status(reader, where, reply_to)
            latencies.append((time.perf_counter() - started) * 1000)
        writes = await _status_writes(runtime, place, calls // 2)
    finally:
        await runtime.db.close()
    seen: dict[str, str] = {}
    for sql in statements:
        head = sql.lstrip().split(None, 1)[0].upper()
        if head in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA"):
            continue
        seen.setdefault(_normalise(sql), sql)
    startup = await _startup_statements(path.parent, layout)
    conn = sqlite3.connect(path)
    try:
        plans = [(norm, [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")])
                 for norm, sql in seen.items()]
        startup_plans = [(norm, [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")])
                         for norm, sql in startup.items()]
    finally:
        conn.close()
    return StatusResult(latencies, plans, startup_plans, writes)


async def _status_writes(runtime: Runtime, place: Any, calls: int) -> list[float]:
    """The share of /status that is its two durable write transactions, timed alone: the
    reader's participant upsert (``ensure_participant``) and read marker (``mark_read``)."""
    took: list[float] = []
    for i in range(calls):
        reader, _, _ = place(i)
        started = time.perf_counter()
        reader_id = await runtime.store.ensure_participant(reader, runtime.core.clock())
        await runtime.store.mark_read(reader_id, 1 + i % 50, 100)
        took.append((time.perf_counter() - started) * 1000)
    return took


async def _startup_statements(tmp: Path, layout: Layout) -> dict[str, str]:
    """The statements the relay and the Discord catch-up run at start (``pending_heads``,
    ``open_threads``), captured on an empty database: run on the big one, the catch-up
    query is the slow part of startup, and the plan says why."""
    runtime = Runtime(tmp / "empty.sqlite3", [layout.bridge])
    await runtime.open()
    statements: list[str] = []
    try:
        await runtime.db.reader.set_trace_callback(statements.append)
        await runtime.store.pending_heads()
        await runtime.store.open_threads("discord")
        await runtime.db.reader.set_trace_callback(None)
    finally:
        await runtime.db.close()
    return {_normalise(sql): sql for sql in statements}


# -- bridgebot run: startup, memory, /status round trip -------------------------------------


@dataclass
class BotRun:
    ready: float  # spawn -> "bridgebot is running"
    marks: dict[str, float]  # event -> seconds after spawn
    rss_start_mb: float
    rss_after_mb: float = float("nan")
    hwm_mb: float = float("nan")
    status_round_trips: list[float] = field(default_factory=list)  # ms
    exit_code: int | None = None  # after SIGTERM: 0 is a clean stop
    load_posts: tuple[int, int] = (0, 0)  # (recorded, sent) during the load phase


def _memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def write_config(tmp: Path, world: World, database: Path, extra: str = "") -> Path:
    """``bridgebot run``'s settings for ``world``'s sandboxes; ``extra`` adds top-level keys."""
    config = tmp / "bridgebot.toml"
    config.write_text(f"""
database = "{database}"
{extra}
[telegram]
token = "{world.tg_token}"
base_url = "{world.tg.url}"
[discord]
token = "{world.dc_token}"
api_base_url = "{world.dc.api_base}"
guilds = [{world.guild['id']}]
[[bridges]]
name = "bench"
telegram_chats = [{world.group['id']}]
discord_channels = [{world.channel['id']}]
""")
    return config


MARKS = {
    "telegram connected": "telegram connected",
    "discord gateway": "discord gateway from the configured API",
    "discord connected": "discord connected",
    "running": "bridgebot is running",
}


async def bot_run(config: Path, world: World, layout: Layout, workload: int,
                  statuses: int, ready_timeout: float = 120.0) -> BotRun:
    """Start ``bridgebot run``, time it to ready, optionally load it, read its memory, stop it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")}
    identifies = world.dc.stats.identifies
    calls_before = len(world.dc.calls)
    spawned = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridgebot.cli", "--config", str(config), "run",
        cwd=config.parent, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    marks: dict[str, float] = {}
    log: list[str] = []

    async def read() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            log.append(line)
            now = time.monotonic() - spawned
            for name, needle in MARKS.items():
                if needle in line:
                    marks.setdefault(name, now)

    reader = asyncio.create_task(read())
    result: BotRun | None = None
    try:
        async with asyncio.timeout(ready_timeout):
            while "running" not in marks:
                if "discord IDENTIFY" not in marks and world.dc.stats.identifies > identifies:
                    marks["discord IDENTIFY"] = time.monotonic() - spawned
                if proc.returncode is not None:
                    raise RuntimeError("bridgebot run exited:\n" + "\n".join(log[-20:]))
                await asyncio.sleep(0.005)
        _discord_marks(world, calls_before, spawned, marks)
        result = BotRun(marks["running"], marks, _memory(proc.pid)[0])
        if workload or statuses:
            await _load(world, layout, workload, statuses, result)
            await asyncio.sleep(1.0)
            result.rss_after_mb, result.hwm_mb = _memory(proc.pid)
        return result
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if result is not None:
            result.exit_code = proc.returncode
        if proc.returncode not in (0, None):
            print("bridgebot run ended with", proc.returncode, "\n" + "\n".join(log[-20:]),
                  file=sys.stderr)


def _discord_marks(world: World, first: int, spawned: float, marks: dict[str, float]) -> None:
    """Startup steps as the fake Discord saw them: the slash commands synced (discord.py
    waited ``guild_ready_timeout`` after the last GUILD_CREATE before that), the catch-up's
    first and last thread history read."""
    calls = world.dc.calls[first:]
    synced = [c.at for c in calls if c.method == "PUT" and c.path.endswith("/commands")]
    history = [c.at for c in calls if c.method == "GET" and re.search(r"/channels/\d+/messages$", c.path)]
    if synced:
        marks.setdefault("discord commands synced (after guild_ready_timeout)", synced[0] - spawned)
    if history:
        marks.setdefault("catch-up: first thread read", history[0] - spawned)
        marks.setdefault("catch-up: last thread read", history[-1] - spawned)
        marks.setdefault("catch-up threads read", float(len(history)))


async def _load(world: World, layout: Layout, posts: int, statuses: int, result: BotRun) -> None:
    """Discord replies spread over many topics (intake, commits, queued deliveries), then
    Telegram ``/status`` commands one after another, each timed to its answer."""
    threads = layout.dc_threads
    for i in range(posts):
        world.dc.user_sends(threads[(i * 7) % len(threads)], world.dc_people[i % len(world.dc_people)],
                            f"load {i}: a reply written during the memory benchmark")
        if i % 50 == 49:
            await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)
    for i in range(statuses):
        asked = time.monotonic()
        message = world.tg.user_sends(world.group["id"], world.tg_people[i % len(world.tg_people)],
                                      "/status")

        def answered(message_id: int = message["message_id"]) -> float | None:
            for call in reversed(world.tg.calls):
                reply = call.params.get("reply_parameters")
                if (call.method == "sendMessage" and isinstance(reply, dict)
                        and reply.get("message_id") == message_id):
                    return call.at
            return None

        at = await wait_until(answered, 10, "no /status answer", interval=0.002)
        result.status_round_trips.append((at - asked) * 1000)


# -- the benchmark ----------------------------------------------------------------------------


async def make_threads(world: World, topics: int) -> list[str]:
    """One thread per topic in the fake Discord channel, as bridgebot would have made."""
    owner = world.dc_people[0]  # who started a thread does not matter to bridgebot
    return [world.dc.user_starts_thread(world.channel["id"], owner, f"Topic {t + 1}")["id"]
            for t in range(topics)]


async def measure(quick: bool) -> tuple[list[Row], StatusResult]:
    """Build the database, time /status in-process, then start ``bridgebot run`` on it
    (twice in a full run; the last start also carries a load before memory is read).

    ``--quick`` uses 20,000 posts over 200 topics: a smoke test, not the target's figures
    (the catch-up query alone takes about a minute on the full database)."""
    topics, posts = (200, 20_000) if quick else (TOPICS, POSTS)
    starts = 1 if quick else 2
    status_calls = 300 if quick else 1000
    workload, statuses = (100, 20) if quick else (300, 100)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp_name, quiet_logs():
        tmp = Path(tmp_name)
        async with sandbox(people=50) as world:
            layout = Layout(str(world.group["id"]), str(world.channel["id"]),
                            await make_threads(world, topics))
            database = tmp / "data" / "bridgebot.sqlite3"
            database.parent.mkdir()
            started = time.perf_counter()
            await asyncio.to_thread(build_database, database, layout, topics, posts)
            built = time.perf_counter() - started
            size_mb = sum(p.stat().st_size for p in database.parent.iterdir()) / 1e6
            status = await status_latency(database, layout, status_calls)
            config = write_config(tmp, world, database)
            runs = []
            for i in range(starts):
                last = i == starts - 1
                runs.append(await bot_run(config, world, layout, workload if last else 0,
                                          statuses if last else 0))
            runs[-1].load_posts = _load_posts(database), workload
    return _rows(status, runs, built, size_mb, topics, posts), status


def _load_posts(database: Path) -> int:
    """Posts the load phase left in the database (a check that the load really landed)."""
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM posts WHERE text LIKE 'load %'").fetchone()[0])
    finally:
        conn.close()


def _rows(status: StatusResult, runs: list[BotRun], built: float, size_mb: float, topics: int,
          posts: int) -> list[Row]:
    p50, p99 = percentile(status.latencies, 50), percentile(status.latencies, 99)
    scans = full_scans(status.plans)
    last = runs[-1]
    rss = max(last.rss_after_mb, last.rss_start_mb)
    ready = median([r.ready for r in runs])
    recorded, sent = last.load_posts
    out = [
        Row("scale", f"database: {posts:,} posts / {topics:,} topics", size_mb, "MB", "", None,
            f"generated in {built:.1f} s (plain sqlite3)"),
        Row("scale", "/status in-process p50", p50, "ms", "", None,
            f"{len(status.latencies)} calls, random topic and reader"),
        Row("scale", "/status in-process p99", p99, "ms", f"≤ {STATUS_P99_TARGET_MS:.0f} ms",
            p99 <= STATUS_P99_TARGET_MS and not scans,
            "no full scans" if not scans else f"{len(scans)} full scans"),
        Row("scale", "  of which its 2 commits (participant upsert, read marker) p50",
            percentile(status.writes, 50), "ms", "", None,
            f"p99 {percentile(status.writes, 99):.1f} ms, timed alone; "
            f"{len(status.plans)} distinct statements over both ways in"),
        Row("scale", "/status Telegram round trip p50 (bridgebot run)",
            percentile(last.status_round_trips, 50), "ms", "", None,
            f"p99 {percentile(last.status_round_trips, 99):.1f} ms over "
            f"{len(last.status_round_trips)} commands"),
        Row("scale", "RSS of bridgebot run after start", last.rss_start_mb, "MB", "", None,
            "VmRSS"),
        Row("scale", f"RSS of bridgebot run after load ({sent} posts, "
            f"{len(last.status_round_trips)} /status)", rss, "MB", f"≤ {RSS_TARGET_MB:.0f} MB",
            rss <= RSS_TARGET_MB and last.hwm_mb <= RSS_TARGET_MB,
            f"peak VmHWM {last.hwm_mb:.1f} MB; {recorded}/{sent} load posts recorded; "
            f"SIGTERM → exit {last.exit_code}"),
        Row("startup", f"bridgebot run to ready ({posts // 1000}k-post database)", ready, "s",
            f"≤ {STARTUP_TARGET_S:.0f} s", ready <= STARTUP_TARGET_S,
            f"median of {len(runs)} starts", [r.ready for r in runs]),
    ]
    for name in ("telegram connected", "discord IDENTIFY",
                 "discord commands synced (after guild_ready_timeout)",
                 "catch-up: first thread read", "catch-up: last thread read", "discord connected"):
        values = [r.marks[name] for r in runs if name in r.marks]
        if values:
            out.append(Row("startup", f"  {name} at", median(values), "s", "", None, ""))
    gaps = [r.marks["catch-up: first thread read"] - r.marks[SYNCED] for r in runs
            if SYNCED in r.marks and "catch-up: first thread read" in r.marks]
    if gaps:
        out.append(Row("startup", "  catch-up query (open_threads) before the first read", median(gaps),
                       "s", "", None, "; ".join(f"{sql[:60]}…: {' / '.join(lines)}"
                                                for sql, lines in status.startup_plans
                                                if "message_map" in sql)))
    return out


SYNCED = "discord commands synced (after guild_ready_timeout)"


def explain(status: StatusResult) -> str:
    """The query plans as text, for the results and docs/benchmarks.md."""
    out = ["/status statements (EXPLAIN QUERY PLAN):"]
    for sql, lines in status.plans:
        out.append(f"  {sql}")
        out += [f"      {line}" for line in lines or ["(no table access to plan)"]]
    out.append("startup statements (relay pending_heads, Discord catch-up open_threads):")
    for sql, lines in status.startup_plans:
        out.append(f"  {sql}")
        out += [f"      {line}" for line in lines]
    return "\n".join(out)


async def run(quick: bool) -> tuple[list[Row], str]:
    rows, status = await measure(quick)
    return rows, explain(status)
