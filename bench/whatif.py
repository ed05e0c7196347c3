"""``python -m bench.whatif``: what would close the gaps ``python -m bench`` reports.

Experiments, not measurements of bridgebot as it is: each changes one thing on the
benchmark's side (never in bridgebot's code or its migrations) and measures again, so
that docs/benchmarks.md can say what a fix would buy before anyone writes it.

* startup: the Discord catch-up query (``Store.open_threads``) on the generated
  100,000-post database, as it is and with one extra index on the message map (created
  here, on the generated file only); then ``bridgebot run`` to ready on the indexed file.
* /status: ``Discussions.status`` as it is, then with the reader looked up before
  being upserted (an upsert only for someone new), then also without the read-marker
  commit on the answer's path (standing in for a marker written later or batched).
  The variants are patched onto this process's ``Store`` instance only.

About a minute and a half on 2 cores; traffic only to the fakes on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import percentile, quiet_logs, sandbox
from bench.scale import Layout, bot_run, build_database, make_threads, write_config
from bridgebot.core.models import Author, ChannelRef
from bridgebot.runtime import Runtime

INDEX = ("CREATE INDEX bench_message_map_by_thread "
         "ON message_map (platform, chat_id, thread_id, mirrored, message_id)")


async def _open_threads_seconds(database: Path, layout: Layout) -> float:
    runtime = Runtime(database, [layout.bridge])
    await runtime.open()
    try:
        started = time.perf_counter()
        await runtime.store.open_threads("discord")
        return time.perf_counter() - started
    finally:
        await runtime.db.close()


async def startup(tmp: Path) -> list[str]:
    """The catch-up query with and without the index, then a start on the indexed file."""
    out: list[str] = []
    async with sandbox(people=50) as world:
        layout = Layout(str(world.group["id"]), str(world.channel["id"]), await make_threads(world, 1000))
        database = tmp / "data" / "bridgebot.sqlite3"
        database.parent.mkdir()
        await asyncio.to_thread(build_database, database, layout)
        as_is = await _open_threads_seconds(database, layout)
        conn = sqlite3.connect(database)
        conn.execute(INDEX)
        conn.commit()
        conn.close()
        indexed = await _open_threads_seconds(database, layout)
        out.append(f"open_threads('discord'), 1,000 open topics: {as_is:.1f} s as is, "
                   f"{indexed * 1000:.0f} ms with {INDEX}")
        run = await bot_run(write_config(tmp, world, database), world, layout, 0, 0)
        marks = ", ".join(f"{name} {at:.2f} s" for name, at in run.marks.items()
                          if name != "catch-up threads read")
        out.append(f"bridgebot run to ready with the index: {run.ready:.2f} s ({marks})")
    return out


async def _status_times(runtime: Runtime, layout: Layout, calls: int) -> list[float]:
    rnd = random.Random(5)
    took: list[float] = []
    for i in range(calls):
        topic = rnd.randrange(len(layout.dc_threads))
        if i % 2 == 0:
            reader = Author("telegram", rnd.choice(layout.tg_people), "Reader")
            where, reply = ChannelRef("telegram", layout.tg_chat), str(layout.tg_roots[topic])
        else:
            reader = Author("discord", rnd.choice(layout.dc_people), "Reader")
            where, reply = ChannelRef("discord", layout.dc_channel, layout.dc_threads[topic]), None
        started = time.perf_counter()
        await runtime.core.status(reader, where, reply)
        took.append((time.perf_counter() - started) * 1000)
    return took


async def status(tmp: Path, calls: int = 1000, rounds: int = 3) -> list[str]:
    """/status as it is and with its two commits taken off the answer's path, alternated."""
    layout = Layout("-1000000000001", "123456789", [str(10**17 + i) for i in range(1000)])
    database = tmp / "status.sqlite3"
    await asyncio.to_thread(build_database, database, layout)
    runtime = Runtime(database, [layout.bridge])
    await runtime.open()
    store = runtime.store
    as_is_upsert = store.ensure_participant
    as_is_mark = store.mark_read

    async def read_first(author: Author, now: datetime) -> int:
        known = await store.participant_id(author.platform, author.user_id)
        return known if known is not None else await as_is_upsert(author, now)

    async def no_marker(*_: Any) -> None:
        return None

    variants: dict[str, tuple[Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]]] = {
        "as is (2 commits)": (as_is_upsert, as_is_mark),
        "reader looked up first (1 commit)": (read_first, as_is_mark),
        "looked up, marker off the path (0 commits)": (read_first, no_marker),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(rounds):
            for name, (upsert, mark) in variants.items():
                store.ensure_participant, store.mark_read = upsert, mark  # type: ignore[method-assign]
                times[name] += await _status_times(runtime, layout, calls)
    finally:
        store.ensure_participant, store.mark_read = as_is_upsert, as_is_mark  # type: ignore[method-assign]
        await runtime.db.close()
    return [f"/status {name}: p50 {percentile(t, 50):.2f} ms, p99 {percentile(t, 99):.2f} ms "
            f"({len(t)} calls, {rounds} alternated rounds)" for name, t in times.items()]


async def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-whatif-") as tmp_name, quiet_logs():
        tmp = Path(tmp_name)
        lines = await status(tmp) + await startup(tmp)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
