"""Ingest on PostgreSQL with 1, 2 and 4 workers against SQLite in one process, as ratios
measured in one run (``python -m bench.postgres``).

The shape is ``bench/ingest.py``'s: 50 topics, 200 participants replying concurrently
through ``Discussions.receive``, each call returning once its post, message map row and
outbox row are committed. A "worker" here is a whole ``Runtime`` with its own pool on the
shared database, the participants split between them; they run in this one Python
process, so what grows with workers is the database's side (commits, row locks, pool
connections), not Python's CPU: on a 2-core machine that is close to the limit. The
server is Debian's, started in a temporary directory with its durable defaults (fsync,
synchronous commit), as SQLite runs with synchronous=FULL.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import quiet_logs
from bench.ingest import PARTICIPANTS, TOPICS, _bridges, _prepare
from bridgebot.core.models import Author, ChannelRef, IncomingMessage
from bridgebot.runtime import Runtime

POSTS = 2000


async def ingest(database: Path | str, workers: int, posts: int = POSTS) -> float:
    """Posts per second acknowledged, the participants split over ``workers`` runtimes."""
    threads = await _prepare(database)
    runtimes = [Runtime(database, _bridges()) for _ in range(workers)]
    for runtime in runtimes:
        await runtime.open()
    per_person = posts // PARTICIPANTS

    async def participant(n: int) -> None:
        runtime = runtimes[n % workers]
        author = Author("console", f"p{n}", f"Participant {n}")
        for k in range(per_person):
            topic = (n + k) % TOPICS
            where = ChannelRef("console", f"a{topic}", threads[topic])
            outcome = await runtime.core.receive(IncomingMessage(
                where, f"m{n}-{k}", author, f"post {k} by {n}", datetime.now(UTC)))
            assert outcome.post is not None

    started = time.perf_counter()
    await asyncio.gather(*(participant(n) for n in range(PARTICIPANTS)))
    elapsed = time.perf_counter() - started
    for runtime in runtimes:
        await runtime.db.close()
    return per_person * PARTICIPANTS / elapsed


# The tests' server (Debian's PostgreSQL in a temporary directory) serves here too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.auxil.postgres import PostgresServer, missing_reason  # noqa: E402


async def main() -> int:
    if (reason := missing_reason()) is not None:
        print(f"bench.postgres: {reason}", file=sys.stderr)
        return 1
    server = PostgresServer()
    server.start(durable=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = await ingest(Path(tmp) / "bench.sqlite3", 1)
        rates = {n: await ingest(server.fresh(), n) for n in (1, 2, 4)}
    finally:
        server.stop()
    print(f"ingest, {POSTS} posts, {TOPICS} topics, {PARTICIPANTS} participants (posts/s):")
    print(f"  SQLite, one process    {sqlite:8.0f}   1.00x")
    for n, rate in rates.items():
        print(f"  PostgreSQL, {n} worker{'s' if n > 1 else ' '}   {rate:8.0f}   {rate / sqlite:.2f}x SQLite, "
              f"{rate / rates[1]:.2f}x 1 worker")
    return 0


if __name__ == "__main__":
    with quiet_logs():
        sys.exit(asyncio.run(main()))
