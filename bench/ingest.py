"""Ingest: durable posts per second, bridgebot's store against plain sqlite3 done serially.

The headline shape is one chat with 10 topics through the real adapters
(``bench/ingest_chat.py``); the shape below, 50 separate chats, is kept as a comparison.

Both sides write the same rows per post (participant upsert, post, message map row,
one outbox row per other linked chat) into the same schema with the same pragmas
(WAL, synchronous=FULL), and acknowledge a post only after its commit. bridgebot's
side is 200 participants replying concurrently through ``Discussions.receive`` (the
store's group commit lets posts that arrive together share a commit); the plain side
is the textbook loop, one transaction per post. ``run`` alternates the two sides so a
change in machine load hits both alike, and reports the store's commits
(``store.writer.batches``): posts per commit is where the difference comes from.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Row, median, quiet_logs
from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core.models import Author, ChannelRef, IncomingMessage
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.store.db import PRAGMAS

TOPICS = 50
PARTICIPANTS = 200


def _bridges(topics: int = TOPICS) -> list[Bridge]:
    return [Bridge(f"b{i}", (ChannelRef("console", f"a{i}"), ChannelRef("console", f"b{i}")))
            for i in range(topics)]


async def _prepare(path: Path | str, topics: int = TOPICS) -> dict[int, str]:
    """50 topics (or ``topics``), each opened in its two rooms; returns topic -> thread id in
    room a."""
    console = ConsoleAdapter()
    runtime = Runtime(path, _bridges(topics), facilitators=[("console", "kristin")])
    runtime.add_adapter(console)
    await runtime.start()
    kristin = Author("console", "kristin", "Kristin")
    for i in range(topics):
        await runtime.core.open_topic(kristin, ChannelRef("console", f"a{i}"), f"Topic {i}", "Intro")
    await runtime.drain(60)
    threads = {i: console.thread_of_room[f"a{i}"] for i in range(topics)}
    await runtime.stop()
    return threads


@dataclass
class IngestRun:
    """One timed run: posts acknowledged, wall time, and commits (transactions) used."""

    posts: int
    seconds: float
    commits: int
    durable: bool  # synchronous=FULL and WAL on the writing connection, all posts on disk

    @property
    def rate(self) -> float:
        return self.posts / self.seconds

    @property
    def posts_per_commit(self) -> float:
        return self.posts / self.commits if self.commits else float("nan")


async def _writer_pragmas(runtime: Runtime) -> tuple[int, str]:
    """(synchronous, journal_mode) as the writing connection has them."""
    async with runtime.db.transaction() as tx:
        sync = await tx.execute_fetchall("PRAGMA synchronous")
        journal = await tx.execute_fetchall("PRAGMA journal_mode")
    return int(next(iter(sync))[0]), str(next(iter(journal))[0])


def _committed_posts(path: Path) -> int:
    """Posts a fresh connection sees once the run is over (the opening posts excluded)."""
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM posts WHERE number > 1").fetchone()[0])
    finally:
        conn.close()


async def bridgebot_run(posts: int) -> IngestRun:
    """200 participants replying concurrently across 50 topics through ``Discussions.receive``:
    each call returns only once its post, message map row and outbox row are committed."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        threads = await _prepare(path)
        runtime = Runtime(path, _bridges())  # no adapters: deliveries stay queued
        await runtime.open()
        sync, journal = await _writer_pragmas(runtime)
        per_person = posts // PARTICIPANTS

        async def participant(n: int) -> None:
            author = Author("console", f"p{n}", f"Participant {n}")
            for k in range(per_person):
                topic = (n + k) % TOPICS
                where = ChannelRef("console", f"a{topic}", threads[topic])
                outcome = await runtime.core.receive(IncomingMessage(
                    where, f"m{n}-{k}", author, f"post {k} by {n}", datetime.now(UTC)))
                assert outcome.post is not None

        started = time.perf_counter()
        commits_before = runtime.store.writer.batches
        await asyncio.gather(*(participant(n) for n in range(PARTICIPANTS)))
        elapsed = time.perf_counter() - started
        commits = runtime.store.writer.batches - commits_before
        await runtime.db.close()
        done = per_person * PARTICIPANTS
        durable = sync == 2 and journal == "wal" and _committed_posts(path) == done
        return IngestRun(done, elapsed, commits, durable)


async def bridgebot_rate(posts: int) -> float:
    return (await bridgebot_run(posts)).rate


def sqlite3_run(posts: int, topics: int = TOPICS) -> IngestRun:
    """The same rows, serially, one transaction per post, through plain sqlite3."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        asyncio.run(_prepare(path, topics))
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in PRAGMAS:
            conn.execute(pragma)
        sync = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        journal = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        # Keep these statements in step with group_commit.PostWriter._insert: schema 4 added
        # a per-topic pseudonym for each author's first post in a topic.
        pseudonyms = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pseudonyms'").fetchone()
        now = datetime.now(UTC).isoformat()
        started = time.perf_counter()
        for k in range(posts):
            n, topic = k % PARTICIPANTS, k % topics + 1
            conn.execute("BEGIN IMMEDIATE")
            participant = conn.execute(
                "INSERT INTO participants (platform, user_id, display_name, first_seen) "
                "VALUES ('console', ?, ?, ?) ON CONFLICT (platform, user_id) "
                "DO UPDATE SET display_name = excluded.display_name RETURNING id",
                (f"p{n}", f"Participant {n}", now)).fetchone()[0]
            post = conn.execute(
                "INSERT INTO posts (topic_id, number, participant_id, origin_platform, text, "
                "created_at) VALUES (?, (SELECT COALESCE(MAX(number), 0) + 1 FROM posts "
                "WHERE topic_id = ?), ?, 'console', ?, ?) RETURNING id",
                (topic, topic, participant, f"post {k}", now)).fetchone()[0]
            if pseudonyms:
                conn.execute(
                    "INSERT OR IGNORE INTO pseudonyms (topic_id, participant_id, number) "
                    "SELECT ?, ?, COALESCE(MAX(number), 0) + 1 FROM pseudonyms WHERE topic_id = ?",
                    (topic, participant, topic))
            conn.execute(
                "INSERT INTO message_map (platform, chat_id, message_id, topic_id, post_id, "
                "mirrored) VALUES ('console', ?, ?, ?, ?, 0)", (f"a{topic - 1}", f"s{k}", topic, post))
            conn.execute(
                "INSERT INTO outbox (topic_id, action, platform, chat_id, post_id, created_at) "
                "VALUES (?, 'post', 'console', ?, ?, ?)", (topic, f"b{topic - 1}", post, now))
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
        durable = sync == 2 and journal == "wal" and _committed_posts(path) == posts
        return IngestRun(posts, elapsed, posts, durable)


def sqlite3_rate(posts: int) -> float:
    return sqlite3_run(posts).rate


def rows(bridgebot: list[IngestRun], plain: list[IngestRun]) -> list[Row]:
    """Medians of the alternated runs, and the ratio of the medians."""
    ours = median([r.rate for r in bridgebot])
    theirs = median([r.rate for r in plain])
    ratio = ours / theirs
    durable = all(r.durable for r in bridgebot + plain)
    per_commit = median([r.posts_per_commit for r in bridgebot])
    pairs = [a.rate / b.rate for a, b in zip(bridgebot, plain, strict=True)]
    note = f"{len(bridgebot)} runs each, alternated; {bridgebot[0].posts} posts per run"
    return [
        Row("ingest", "50 chats (comparison): bridgebot posts/s (200 participants)", ours,
            "posts/s", "", None, note, [r.rate for r in bridgebot]),
        Row("ingest", "50 chats (comparison): plain sqlite3 posts/s (1 tx/post)", theirs, "posts/s", "", None,
            "", [r.rate for r in plain]),
        Row("ingest", "50 chats (comparison): ratio bridgebot / plain sqlite3", ratio, "x",
            "≥ 1.0x", ratio >= 1.0 and durable,
            ("synchronous=FULL, WAL, acknowledged after commit" if durable
             else "DURABILITY CHECK FAILED") + f"; pairs {min(pairs):.2f}–{max(pairs):.2f}x", pairs),
        Row("ingest", "50 chats (comparison): posts per commit", per_commit, "", "", None,
            f"median {median([float(r.commits) for r in bridgebot]):.0f} commits per run",
            [r.posts_per_commit for r in bridgebot]),
    ]


async def run(quick: bool) -> list[Row]:
    """The headline shape first (one chat with 10 topics through the real adapters,
    ``bench/ingest_chat.py``), then this 50-chat shape as a comparison; each against plain
    sqlite3, both sides alternately, so that a change in machine load hits both alike."""
    from bench import ingest_chat  # it builds on this module's plain side

    headline = await ingest_chat.run(quick)
    return headline + await comparison(quick)


async def comparison(quick: bool) -> list[Row]:
    """The 50-chat shape (issue 8's): posts of different chats share commits."""
    posts, rounds = (2000, 2) if quick else (4000, 5)
    bridgebot: list[IngestRun] = []
    plain: list[IngestRun] = []
    with quiet_logs():
        for i in range(rounds):
            if i % 2 == 0:
                bridgebot.append(await bridgebot_run(posts))
                plain.append(await asyncio.to_thread(sqlite3_run, posts))
            else:
                plain.append(await asyncio.to_thread(sqlite3_run, posts))
                bridgebot.append(await bridgebot_run(posts))
    return rows(bridgebot, plain)
