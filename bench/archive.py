"""The archive at scale: 100,000 posts in 10 topics of 10,000 each (issue 15's shape).

- ``export`` of one 10k-post topic (load and render, html and markdown), as
  ``bridgebot export`` does;
- the topic page (its newest page and its oldest: a topic this long is read in pages of
  whole threads) and the index page of ``bridgebot serve`` over HTTP on 127.0.0.1, and a
  live page's ``state.json``;
- private ``/status`` (a person's discussions with their counts) in-process;
- private ``/catchup`` in-process, for a reader 20 posts behind in each of their 10 topics
  and for one who has read nothing (``CATCHUP_MAX`` then bounds what is listed), each
  call's read markers set back before it (outside the timing), links made as a chat would.

The database is generated with plain sqlite3 by ``bench/scale.py``'s ``build_database``
(the same schema, participants, message map and outbox rows bridgebot writes), then opened
by bridgebot (migrated, ``synchronous=FULL``), the process's startup objects then left out
of the garbage collector's full collections as ``bridgebot export`` and ``serve`` leave
theirs (``runtime.settle_heap``). Each figure is the median of several calls
(the topic pages and export: 5; the index and ``state.json``: 50; ``/status``: 300;
``/catchup``: 20 of each kind).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Row, median, percentile, quiet_logs, sandbox
from bench.scale import Layout, build_database, make_threads
from bridgebot.core.export import load_archive, to_html, to_markdown
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.names import AuthorMode
from bridgebot.core.privacy import archive_presenter
from bridgebot.core.reading import catchup_command, overview
from bridgebot.runtime import Runtime, settle_heap
from bridgebot.web.archive import PAGE_POSTS, ArchiveServer

TOPICS = 10
POSTS = 100_000
EXPORT_TARGET_S = 0.3
INDEX_TARGET_MS = 50.0
STATUS_TARGET_MS = 10.0
CATCHUP_CALLS = 20
CATCHUP_BEHIND = 20  # the first reader's marker: this many posts before each topic's last


# The CPU time this process spent on each call (every thread: aiosqlite's, the server's, the
# client's), by the same call's key as its wall time: on the shared 2-core machine the wall
# time also holds the waits for a core, which the CPU time does not.
CPU: dict[str, list[float]] = {}


async def _timed(call, times: int, key: str = "") -> list[float]:  # type: ignore[no-untyped-def]
    took, cpu = [], []
    for _ in range(times):
        started, used = time.perf_counter(), time.process_time()
        await call()
        took.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    if key:
        CPU[key] = cpu
    return took


def _cpu(key: str) -> str:
    return f"CPU {median(CPU[key]):.3f} s (median)"


async def measure(quick: bool) -> list[Row]:
    topics, posts = (TOPICS, 20_000) if quick else (TOPICS, POSTS)
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp_name, quiet_logs():
        tmp = Path(tmp_name)
        async with sandbox(people=50) as world:
            layout = Layout(str(world.group["id"]), str(world.channel["id"]),
                            await make_threads(world, topics))
            database = tmp / "data" / "bridgebot.sqlite3"
            database.parent.mkdir()
            await asyncio.to_thread(build_database, database, layout, topics, posts)
            runtime = Runtime(database, [world.bridge])
            await runtime.open(apply_settings=False)
            settle_heap()  # as `bridgebot export` and `serve` do once their database is open
            try:
                return await _measure(runtime, world.bridge.name, posts // topics, posts)
            finally:
                await runtime.db.close()


async def _measure(runtime: Runtime, bridge: str, per_topic: int, posts: int) -> list[Row]:
    platforms = runtime.platforms

    async def export_html() -> None:
        archive = await load_archive(runtime.store, 1, platforms)
        assert archive is not None and len(archive.posts) >= per_topic
        to_html(archive)

    async def export_markdown() -> None:
        archive = await load_archive(runtime.store, 1, platforms)
        assert archive is not None
        to_markdown(archive)

    html_times = await _timed(export_html, 5, "html")
    md_times = await _timed(export_markdown, 5, "md")
    server = ArchiveServer(runtime.store, platforms=platforms, present=archive_presenter(
        runtime.core.privacy, {bridge: AuthorMode.DISPLAY_NAME}, platforms=platforms))
    port = await server.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async def get(path: str) -> None:
                async with http.get(base + path) as response:
                    assert response.status == 200, (path, response.status)
                    await response.read()

            page = await _timed(lambda: get("/topics/1/"), 5, "page")
            oldest = await _timed(lambda: get("/topics/1/?page=1"), 5, "oldest")
            index = await _timed(lambda: get("/"), 50)
            state = await _timed(lambda: get("/topics/1/state.json"), 50)
    finally:
        await server.stop()
    rnd = random.Random(5)
    people = await runtime.db.reader.execute_fetchall(
        "SELECT platform, user_id, display_name FROM participants WHERE id > 1 LIMIT 500")

    async def private_status() -> None:
        platform, user_id, name = rnd.choice(list(people))
        await overview(runtime.core, Author(platform, user_id, name))

    status = await _timed(private_status, 300)
    behind = await _catchup(runtime, list(people), rnd, per_topic - CATCHUP_BEHIND)
    unread = await _catchup(runtime, list(people), rnd, None)
    await runtime.core.settle()
    shape = f"{posts:,} posts in {TOPICS} topics of {per_topic:,}"
    ms = 1000.0
    return [
        Row("archive", "export html of a 10k-post topic (load + render)", median(html_times), "s",
            f"≤ {EXPORT_TARGET_S:g} s", median(html_times) <= EXPORT_TARGET_S, f"{shape}; {_cpu('html')}"),
        Row("archive", "export markdown of a 10k-post topic", median(md_times), "s",
            f"≤ {EXPORT_TARGET_S:g} s", median(md_times) <= EXPORT_TARGET_S, _cpu("md")),
        Row("archive", "topic page of a 10k-post topic (HTTP)", median(page), "s",
            f"≤ {EXPORT_TARGET_S:g} s", median(page) <= EXPORT_TARGET_S,
            f"bridgebot serve; the newest page, whole threads of about {PAGE_POSTS} comments; "
            f"{_cpu('page')}"),
        Row("archive", "its oldest page (HTTP, ?page=1)", median(oldest), "s",
            f"≤ {EXPORT_TARGET_S:g} s", median(oldest) <= EXPORT_TARGET_S, _cpu("oldest")),
        Row("archive", "index page (HTTP)", median(index) * ms, "ms", f"≤ {INDEX_TARGET_MS:g} ms",
            median(index) * ms <= INDEX_TARGET_MS, f"p99 {percentile(index, 99) * ms:.1f} ms; "
                                                  "per-topic counts"),
        Row("archive", "state.json of a live page (HTTP)", median(state) * ms, "ms", "", None,
            f"p99 {percentile(state, 99) * ms:.1f} ms"),
        Row("archive", "private /status p99 (in-process)", percentile(status, 99) * ms, "ms",
            f"≤ {STATUS_TARGET_MS:g} ms", percentile(status, 99) * ms <= STATUS_TARGET_MS,
            f"p50 {percentile(status, 50) * ms:.2f} ms; 300 calls, random people"),
        Row("archive", f"private /catchup p99, {CATCHUP_BEHIND} posts behind per topic",
            percentile(behind, 99) * ms, "ms", "", None,
            f"p50 {percentile(behind, 50) * ms:.2f} ms; {CATCHUP_CALLS} calls, random people, "
            f"10 topics; {_cpu('catchup-behind')}"),
        Row("archive", "private /catchup p99, nothing read yet", percentile(unread, 99) * ms, "ms",
            "", None, f"p50 {percentile(unread, 50) * ms:.2f} ms; {CATCHUP_CALLS} calls; "
                      f"{_cpu('catchup-unread')}"),
    ]


def _link(where: ChannelRef, message_id: str) -> str | None:
    """A link as the Telegram adapter makes one (a Discord message gets none here)."""
    return f"https://t.me/c/{where.chat_id}/{message_id}" if where.platform == "telegram" else None


async def _catchup(runtime: Runtime, people: list[Any], rnd: random.Random,
                   mark: int | None) -> list[float]:
    """Wall times of private /catchup for random people: each first has their read markers
    set to ``mark`` in every topic (``None``: removed, nothing read yet), outside the timing,
    since /catchup moves them."""
    took, cpu = [], []
    topics = [row[0] for row in await runtime.db.reader.execute_fetchall("SELECT id FROM topics")]
    for _ in range(CATCHUP_CALLS):
        platform, user_id, name = rnd.choice(people)
        async with runtime.db.tx() as tx:
            row = await tx.fetchrow("SELECT id FROM participants WHERE platform = ? AND user_id = ?",
                                    (platform, user_id))
            assert row is not None
            await tx.execute("DELETE FROM read_markers WHERE participant_id = ?", (row[0],))
            for topic_id in topics if mark is not None else ():
                await tx.execute("INSERT INTO read_markers (participant_id, topic_id, "
                                 "last_read_number) VALUES (?, ?, ?)", (row[0], topic_id, mark))
        started, used = time.perf_counter(), time.process_time()
        text = await catchup_command(runtime.core, Author(platform, user_id, name), None, _link)
        took.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
        assert text.count("\n• #") >= 1 and "…and" in text, text[:300]
    CPU["catchup-unread" if mark is None else "catchup-behind"] = cpu
    return took


async def run(quick: bool) -> list[Row]:
    return await measure(quick)
