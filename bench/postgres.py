"""Ingest on PostgreSQL with 1, 2 and 4 workers against SQLite in one process, as ratios
measured in one run (``python -m bench.postgres [ROUNDS]``: the four alternated, 3 rounds
unless told, medians shown with every run and the load average after each round).

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
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import load_average, quiet_logs
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


async def main(rounds: int = 3) -> int:
    if (reason := missing_reason()) is not None:
        print(f"bench.postgres: {reason}", file=sys.stderr)
        return 1
    server = PostgresServer()
    server.start(durable=True)
    rates: dict[int, list[float]] = {0: [], 1: [], 2: [], 4: []}
    loads: list[str] = []
    try:
        for _ in range(rounds):  # alternated, so a change in the machine's load hits all alike
            with tempfile.TemporaryDirectory() as tmp:
                rates[0].append(await ingest(Path(tmp) / "bench.sqlite3", 1))
            for n in (1, 2, 4):
                rates[n].append(await ingest(server.fresh(), n))
            loads.append(load_average())
    finally:
        server.stop()
    sqlite, one = statistics.median(rates[0]), statistics.median(rates[1])
    print(f"ingest, {POSTS} posts, {TOPICS} topics, {PARTICIPANTS} participants (posts/s, median of "
          f"{rounds}; load averages after each round: {'; '.join(loads)}):")
    print(f"  SQLite, one process    {sqlite:8.0f}   1.00x   runs {[round(x) for x in rates[0]]}")
    for n in (1, 2, 4):
        rate = statistics.median(rates[n])
        print(f"  PostgreSQL, {n} worker{'s' if n > 1 else ' '}   {rate:8.0f}   {rate / sqlite:.2f}x SQLite, "
              f"{rate / one:.2f}x 1 worker   runs {[round(x) for x in rates[n]]}")
    return 0


if __name__ == "__main__":
    with quiet_logs():
        sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
