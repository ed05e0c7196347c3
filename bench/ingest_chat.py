"""Ingest into one chat with 10 topics, through the real adapters (issue 15's shape).

One Telegram forum group (python-telegram-bot polling ``getUpdates`` from the fake Bot API)
or one Discord forum channel (discord.py on the fake gateway), 10 open topics, 20 people
writing in all of them interleaved. Each post is bridged to one other chat whose platform
has no adapter here, so every post also writes one outbox row that stays queued (as in
``bench/ingest.py``) and nothing else competes for the machine.

Each shape runs twice per round. The headline runs the fake platform in a process of its
own (``bench/fake_apart.py``): in production the platform's servers are not on the bot's
CPU, while a fake in the bot's process charges its own work to the bot (copying and
serializing every update, answering every request, pushing gateway events: about a third
of the process's CPU on Telegram in a profile). The comparison runs the fake in the bot's
process, as this benchmark did before (the figures of docs/benchmarks.md up to session 5).
Once a bot has started, its heap is settled as ``bridgebot run`` settles it
(``runtime.settle_heap``: the objects of starting left out of full collections); before,
one to three full collections a run walked them, 0.1-0.2 s each on a busy machine.

The messages are all written before the clock starts: in the bot's process with no await
between them; apart, in one synchronous loop of the fake's event loop, which answers no
request meanwhile, and the clock starts at the ``time.monotonic()`` that loop ended (the
same clock in both processes). The clock stops when the last post is committed, seen
through a separate sqlite3 connection. On Telegram a post is acknowledged (its offset
saved) in the same transaction. The baseline is plain sqlite3 writing the same rows, one
transaction per post, same pragmas (``bench.ingest.sqlite3_run`` on 10 topics), measured
in the same run between the two bridgebot runs of each round (which goes first alternates).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import Row, fsync_latency_ms, load_average, median, quiet_logs, wait_until
from bench.fake_apart import FakeApart
from bench.ingest import IngestRun, _writer_pragmas, sqlite3_run
from bridgebot.adapters.discord.adapter import DiscordAdapter
from bridgebot.adapters.discord.endpoint import reset_api_base
from bridgebot.adapters.discord.settings import DiscordSettings
from bridgebot.adapters.telegram.adapter import CURSOR, TelegramAdapter
from bridgebot.adapters.telegram.settings import TelegramSettings
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.ratelimit import PlatformLimits
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter, telegram_adapter
from bridgebot.sandbox.discord import FakeDiscord
from bridgebot.sandbox.telegram import FakeTelegram

TOPICS = 10
PEOPLE = 20
ELSEWHERE = ChannelRef("console", "elsewhere")  # the other chat of the bridge: no adapter


@dataclass
class Chat:
    """A running bot with 10 open topics in one chat; ``write(posts)`` writes them all at
    the platform before the bot can see any, and returns the ``time.monotonic()`` when it
    could (the clock's start)."""

    runtime: Runtime
    write: Callable[[int], Awaitable[float]]
    acknowledged: Callable[[], Awaitable[bool]]  # the platform holds nothing unconfirmed


def _committed(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM posts WHERE number > 1").fetchone()[0])
    finally:
        conn.close()


class _Newest:
    """The newest post id committed, read cheaply (the primary key's last entry) through one
    connection of the benchmark's own, every 10 ms: the observer costs the bot little."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)

    def __call__(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM posts").fetchone()[0])

    def close(self) -> None:
        self.conn.close()


async def _open_topics(runtime: Runtime, where: ChannelRef) -> None:
    kristin = Author(where.platform, "kristin", "Kristin")
    for i in range(TOPICS):
        await runtime.core.open_topic(kristin, where, f"Topic {i}", "Your view?",
                                      platform_admin=True)


async def _places(runtime: Runtime, where: ChannelRef) -> list[str]:
    """The thread of each topic in ``where``, once the relay has opened them all."""
    for _ in range(600):
        places = [(await runtime.store.topic_place(t, where))[0] for t in range(1, TOPICS + 1)]
        if all(places):
            return [str(p) for p in places]
        await asyncio.sleep(0.05)
    raise TimeoutError("the topics were not opened")


@contextlib.asynccontextmanager
async def telegram_forum(path: Path) -> AsyncIterator[Chat]:
    async with FakeTelegram() as tg:
        token = tg.add_bot(username="bridgebot_bench_bot")
        owner = tg.add_user("Kristin", "Antin")
        group = tg.add_chat("Allies forum", is_forum=True, owner=owner)
        people = [tg.add_user(f"Telegrammer{i}") for i in range(PEOPLE)]
        where = ChannelRef("telegram", str(group["id"]))
        runtime = Runtime(path, [Bridge("bench", (where, ELSEWHERE))])
        runtime.add_adapter(telegram_adapter(tg, token, limits=PlatformLimits(
            max_length=TelegramAdapter.limits.max_length)))
        await runtime.start()
        try:
            await _open_topics(runtime, where)
            threads = [int(t) for t in await _places(runtime, where)]

            async def write(posts: int) -> float:
                for n in range(posts):  # no await: all of them wait at the platform
                    tg.user_sends(group["id"], people[n % PEOPLE], f"post {n}",
                                  thread_id=threads[n % TOPICS])
                return time.monotonic()

            async def acknowledged() -> bool:
                return not tg.pending_updates()

            yield Chat(runtime, write, acknowledged)
        finally:
            await runtime.stop(grace=2.0)


@contextlib.asynccontextmanager
async def discord_forum(path: Path) -> AsyncIterator[Chat]:
    async with FakeDiscord(heartbeat_interval_ms=5000) as dc:
        try:
            token = dc.add_bot("bridgebot")
            guild = dc.add_guild("New Tactics")
            channel = dc.add_forum_channel(guild["id"], "discussions")
            people = [dc.add_member(guild["id"], f"discorder{i}", global_name=f"Discorder{i}")
                      for i in range(PEOPLE)]
            where = ChannelRef("discord", str(channel["id"]))
            runtime = Runtime(path, [Bridge("bench", (where, ELSEWHERE))])
            runtime.add_adapter(discord_adapter(dc, token, guild["id"], limits=PlatformLimits(
                max_length=DiscordAdapter.limits.max_length)))
            await runtime.start()
            try:
                await _open_topics(runtime, where)
                threads = await _places(runtime, where)

                async def write(posts: int) -> float:
                    for n in range(posts):  # no await: all of them wait at the platform
                        dc.user_sends(threads[n % TOPICS], people[n % PEOPLE], f"post {n}")
                    return time.monotonic()

                yield Chat(runtime, write, _always)  # the gateway has no acknowledgement
            finally:
                await runtime.stop(grace=2.0)
        finally:
            reset_api_base()


async def _always() -> bool:
    return True


@contextlib.asynccontextmanager
async def telegram_apart(path: Path) -> AsyncIterator[Chat]:
    """As :func:`telegram_forum`, the fake Bot API in a process of its own (bench/fake_apart)."""
    async with FakeApart("telegram") as fake:
        assert fake.setup is not None
        where = ChannelRef("telegram", fake.setup.chat)
        runtime = Runtime(path, [Bridge("bench", (where, ELSEWHERE))])
        runtime.add_adapter(TelegramAdapter(
            TelegramSettings(token=fake.setup.token, base_url=fake.setup.url), poll_timeout=1,
            limits=PlatformLimits(max_length=TelegramAdapter.limits.max_length)))

        async def acknowledged() -> bool:
            return bool(await fake.ask("acknowledged"))

        async with _running_apart(runtime, where, fake, acknowledged) as chat:
            yield chat


@contextlib.asynccontextmanager
async def discord_apart(path: Path) -> AsyncIterator[Chat]:
    """As :func:`discord_forum`, the fake Discord in a process of its own (bench/fake_apart)."""
    async with FakeApart("discord") as fake:
        assert fake.setup is not None
        try:
            where = ChannelRef("discord", fake.setup.chat)
            runtime = Runtime(path, [Bridge("bench", (where, ELSEWHERE))])
            runtime.add_adapter(DiscordAdapter(
                DiscordSettings(token=fake.setup.token, api_base_url=fake.setup.url,
                                guilds=[int(fake.setup.guild)], facilitator_roles=["Facilitator"]),
                client_options={"guild_ready_timeout": 0.05},
                limits=PlatformLimits(max_length=DiscordAdapter.limits.max_length)))
            async with _running_apart(runtime, where, fake, _always) as chat:
                yield chat
        finally:
            reset_api_base()


@contextlib.asynccontextmanager
async def _running_apart(runtime: Runtime, where: ChannelRef, fake: FakeApart,
                         acknowledged: Callable[[], Awaitable[bool]]) -> AsyncIterator[Chat]:
    """The bot started with its 10 topics open, the posts written by the fake apart."""
    await runtime.start()
    try:
        await _open_topics(runtime, where)
        threads = await _places(runtime, where)

        async def write(posts: int) -> float:
            return float(await fake.ask("write", posts, threads))

        yield Chat(runtime, write, acknowledged)
    finally:
        await runtime.stop(grace=2.0)


SHAPES = {"Telegram polling": telegram_forum, "Discord gateway": discord_forum}
APART = {"Telegram polling": telegram_apart, "Discord gateway": discord_apart}


async def _until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    """Whether ``predicate`` (asked of the fake, maybe in its process) holds within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if await predicate():
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def _settled_heap() -> Iterator[None]:
    """As ``bridgebot run`` once started (``runtime.settle_heap``): what starting made is
    left out of full collections, which otherwise walk it (about 120,000 objects here, 0.1
    to 0.2 s a collection on a busy machine) one to three times a run. Thawed after the
    run, since this process starts many bots."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def bridgebot_run(shape: str, posts: int, apart: bool = False) -> IngestRun:
    """``posts`` messages over the 10 topics of one chat, written at once; the time until the
    last is committed (and, on Telegram, its offset saved with it). ``apart``: the fake
    platform runs in a process of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        async with (APART if apart else SHAPES)[shape](path) as chat:
            await chat.runtime.drain(60)
            with _settled_heap():
                sync, journal = await _writer_pragmas(chat.runtime)
                store = chat.runtime.store
                commits = store.writer.batches
                newest = _Newest(path)
                last = newest() + posts  # ids follow the order of the commits
                started = await chat.write(posts)
                try:
                    await wait_until(lambda: newest() >= last, 600, "posts not committed",
                                     interval=0.01)
                finally:
                    newest.close()
                elapsed = time.monotonic() - started
                commits = store.writer.batches - commits
                cursor = await store.cursor(CURSOR)
                # Telegram: confirmed by the next getUpdates
                acknowledged = await _until(chat.acknowledged, 5)
                durable = (sync == 2 and journal == "wal" and acknowledged
                           and (shape != "Telegram polling" or cursor is not None))
        durable = durable and _committed(path) == posts
        return IngestRun(posts, elapsed, commits, durable)


def rows(shape: str, ours: list[IngestRun], plain: list[IngestRun]) -> list[Row]:
    rate, base = median([r.rate for r in ours]), median([r.rate for r in plain])
    ratio = rate / base
    durable = all(r.durable for r in ours + plain)
    pairs = [a.rate / b.rate for a, b in zip(ours, plain, strict=True)]
    note = f"{len(ours)} runs each, alternated; {ours[0].posts} posts per run"
    return [
        Row("ingest", f"one chat, 10 topics, {shape}: bridgebot posts/s", rate, "posts/s", "",
            None, note, [r.rate for r in ours]),
        Row("ingest", f"one chat, 10 topics, {shape}: plain sqlite3 posts/s (1 tx/post)", base,
            "posts/s", "", None, "", [r.rate for r in plain]),
        Row("ingest", f"one chat, 10 topics, {shape}: ratio bridgebot / plain sqlite3", ratio,
            "x", "≥ 1.0x", ratio >= 1.0 and durable,
            ("synchronous=FULL, WAL, acknowledged after commit" if durable
             else "DURABILITY CHECK FAILED") + f"; pairs {min(pairs):.2f}–{max(pairs):.2f}x",
            pairs),
        Row("ingest", f"one chat, 10 topics, {shape}: posts per commit", median(
            [r.posts_per_commit for r in ours]), "", "", None,
            f"median {median([float(r.commits) for r in ours]):.0f} commits per run",
            [r.posts_per_commit for r in ours]),
    ]


async def run(quick: bool) -> list[Row]:
    """Each shape against plain sqlite3 on 10 topics, alternated: the fake platform in a
    process of its own (the headline: the platform is not on the bot's CPU in production)
    and in the bot's process (as before, for comparison), each round both and the plain
    side between them, in turn first and last."""
    posts, rounds = (500, 2) if quick else (2000, 3)
    out: list[Row] = []
    with quiet_logs():
        for shape in SHAPES:
            apart: list[IngestRun] = []
            inside: list[IngestRun] = []
            plain: list[IngestRun] = []
            for i in range(rounds):
                first, last = (apart, inside) if i % 2 == 0 else (inside, apart)
                first.append(await bridgebot_run(shape, posts, apart=first is apart))
                plain.append(await asyncio.to_thread(sqlite3_run, posts, TOPICS))
                last.append(await bridgebot_run(shape, posts, apart=last is apart))
            out += rows(f"{shape}, fake platform apart", apart, plain)
            out += rows(f"{shape}, fake in the bot's process (comparison)", inside, plain)
    return out


if __name__ == "__main__":
    from bench.__main__ import table

    async def main() -> None:
        import sys
        fsync = fsync_latency_ms()
        print(f"load {load_average()}; fsync (4 KiB) p50 {fsync[0]:.2f} ms, p99 {fsync[1]:.2f} ms")
        measured = await run("--quick" in sys.argv)
        print(table(measured))
        for row in measured:  # each round's figure, in the order they ran
            print(f"{row.measure}: " + ", ".join(
                f"{v:,.0f}" if v >= 100 else f"{v:.2f}" for v in row.samples))
        fsync = fsync_latency_ms()
        print(f"load {load_average()}; fsync (4 KiB) p50 {fsync[0]:.2f} ms, p99 {fsync[1]:.2f} ms")

    asyncio.run(main())
