"""Roles only one worker holds (Telegram polling, the scheduler) among workers sharing a
PostgreSQL database: a session advisory lock on a connection of the holder's own; when
that connection dies the server releases the lock and another worker takes over."""

from __future__ import annotations

import asyncio
import contextlib
import gc

import asyncpg
import pytest

from bridgebot.health import HealthServer
from bridgebot.runtime import SCHEDULER_ROLE, TELEGRAM_POLLING_ROLE, Runtime
from bridgebot.sandbox.clients import telegram_adapter
from bridgebot.store.leader import AlwaysLeader, PgLeader
from bridgebot.store.postgres import PgDatabase

from .auxil.postgres import PostgresServer
from .auxil.world import QUICK_BACKOFF, TELEGRAM_UNLIMITED
from .conftest import Build
from .test_health import get

on_postgres = pytest.mark.parametrize("store", ["postgresql"], indirect=True)


async def _kill_backend(dsn: str, leader: PgLeader) -> None:
    """End the leader's lock connection from the server's side, as a dead host would."""
    assert leader._conn is not None
    pid = leader._conn.get_server_pid()
    admin = await asyncpg.connect(dsn)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def test_one_worker_leads_a_role_and_another_takes_it_when_its_connection_dies(
        postgres_server: PostgresServer):
    url = postgres_server.fresh()
    first, second = PgLeader(url, "scheduler", retry=0.1), PgLeader(url, "scheduler", retry=0.1)
    other_role = PgLeader(url, "telegram-polling", retry=0.1)
    try:
        await first.wait()
        assert await first.leads()
        assert first._conn is not None  # a vanished host is noticed in seconds, not hours
        assert await first._conn.fetchval("SHOW tcp_keepalives_idle") == "4"
        waiting = asyncio.create_task(second.wait())
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the scheduler is the first worker's"
        await asyncio.wait_for(other_role.wait(), 2)  # another role is free
        await _kill_backend(url, first)
        await asyncio.wait_for(waiting, 10)
        assert await second.leads()
        assert not await first.leads(), "the first worker knows it lost the role"
    finally:
        for leader in (first, second, other_role):
            await leader.release()


async def test_a_worker_asked_just_after_the_server_ended_its_lock_session_knows_it_lost_the_role(
        postgres_server: PostgresServer):
    """The server ends a session (a restart, pg_terminate_backend) by sending its FATAL
    message, releasing the session's locks, then closing the socket: asked in between,
    asyncpg refused the query with InternalClientError, which ended the Telegram poller's
    or the scheduler's loop. Asked right as the lock comes free, each time the worker only
    learns that it no longer leads (without the fix nearly every round raised)."""
    url = postgres_server.fresh()
    admin = await asyncpg.connect(url)
    try:
        for _ in range(30):
            first = PgLeader(url, "scheduler", retry=0.05)
            try:
                await first.wait()
                await _kill_backend(url, first)
                while not await admin.fetchval("SELECT pg_try_advisory_lock($1)", first.key):
                    pass  # until the server released the lock (no pause: the gap is short)
                await admin.fetchval("SELECT pg_advisory_unlock($1)", first.key)
                assert not await first.leads()
                assert not first.held and await first.take(), "it can lead again"
            finally:
                await first.release()
    finally:
        await admin.close()


async def test_the_only_process_on_sqlite_always_leads():
    leader = AlwaysLeader("telegram-polling")
    await leader.wait()
    assert await leader.leads() and leader.held


@on_postgres
async def test_only_one_worker_polls_telegram_and_another_takes_over_when_it_dies(
        build: Build, db_path):
    one = await build(telegram=("group",), discord=(), database=db_path, open_topic=True)
    assert isinstance(one.runtime.db, PgDatabase)
    assert one.tg is not None
    tg, group = one.tg, one.group["id"]
    two = Runtime(one.runtime.db.dsn, [one.bridge], relay_backoff=QUICK_BACKOFF)
    two.add_adapter(telegram_adapter(tg, one.tokens["telegram"], limits=TELEGRAM_UNLIMITED))
    for leader in two.leaders.values():
        assert isinstance(leader, PgLeader)
        leader.retry = 0.5
    await two.start()
    try:
        assert await one.runtime.roles() == [SCHEDULER_ROLE, TELEGRAM_POLLING_ROLE]
        assert await two.roles() == [], "the second worker waits"
        for i in range(3):
            tg.user_sends(group, one.brittany.tg, f"example {i}", reply_to=one.root["message_id"])
        await one.posts(4)
        await asyncio.sleep(1.0)  # two of the second worker's turns to try
        polls = tg.calls_to("getUpdates")
        assert polls and all(c.status == 200 for c in polls), "one poller: no 409 Conflict"
        assert await two.roles() == []

        # The leader dies: its getUpdates loop ends mid-poll, its scheduler with it, and its
        # lock connections drop.
        dead = one.runtime.adapters["telegram"]
        intake = dead._intake  # type: ignore[attr-defined]
        assert intake is not None
        intake.cancel()
        assert one.runtime._scheduler_task is not None
        one.runtime._scheduler_task.cancel()
        for role in (TELEGRAM_POLLING_ROLE, SCHEDULER_ROLE):
            leader = one.runtime.leaders[role]
            assert isinstance(leader, PgLeader)
            await _kill_backend(one.runtime.db.dsn, leader)
        for i in range(3, 6):  # sent while no worker polls
            tg.user_sends(group, one.brittany.tg, f"example {i}", reply_to=one.root["message_id"])
        for _ in range(100):  # within 10 s
            if await two.roles() == [SCHEDULER_ROLE, TELEGRAM_POLLING_ROLE]:
                break
            await asyncio.sleep(0.1)
        assert await two.roles() == [SCHEDULER_ROLE, TELEGRAM_POLLING_ROLE], "taken over"
        posts = await one.posts(7)
        await asyncio.sleep(0.5)  # a second recording would show by now
        texts = [p.text for p in await two.store.posts(1)][1:]
        assert texts == [f"example {i}" for i in range(6)], "each update recorded once"
        assert len(posts) == 7
        health = HealthServer(two, "127.0.0.1", 0)
        await health.start()
        try:
            status, body, _ = await get(f"{health.url}/healthz")
        finally:
            await health.stop()
        assert status == 200
        assert body.splitlines()[1].startswith("roles: scheduler, telegram-polling, deliveries: ")
    finally:
        await two.stop()


@on_postgres
async def test_a_leader_stopped_cleanly_hands_telegram_polling_on(build: Build, db_path):
    one = await build(telegram=("group",), discord=(), database=db_path, open_topic=True)
    assert isinstance(one.runtime.db, PgDatabase) and one.tg is not None
    two = Runtime(one.runtime.db.dsn, [one.bridge], relay_backoff=QUICK_BACKOFF)
    two.add_adapter(telegram_adapter(one.tg, one.tokens["telegram"], limits=TELEGRAM_UNLIMITED))
    for leader in two.leaders.values():
        assert isinstance(leader, PgLeader)
        leader.retry = 0.3
    await two.start()
    try:
        assert await two.roles() == []
        await one.runtime.stop()
        one.tg.user_sends(one.group["id"], one.brittany.tg, "after the stop",
                          reply_to=one.root["message_id"])
        for _ in range(100):  # within 10 s
            if await two.roles() == [SCHEDULER_ROLE, TELEGRAM_POLLING_ROLE]:
                break
            await asyncio.sleep(0.1)
        assert await two.roles() == [SCHEDULER_ROLE, TELEGRAM_POLLING_ROLE]
        for _ in range(100):
            texts = [p.text for p in await two.store.posts(1)]
            if "after the stop" in texts:
                break
            await asyncio.sleep(0.1)
        assert texts[1:] == ["after the stop"]
    finally:
        await two.stop()


async def test_a_worker_stopped_while_it_connects_leaves_nothing_to_log(
        postgres_server: PostgresServer):
    # Stopping cancels whatever is connecting (a role tried, the pool growing): asyncpg
    # cancelled while it asks the server about TLS left a failed future nobody read, which
    # asyncio logs as "Future exception was never retrieved" (an ERROR in the worker's log).
    url = postgres_server.fresh()
    loop = asyncio.get_running_loop()
    unread: list[str] = []
    loop.set_exception_handler(lambda _, context: unread.append(context["message"]))
    try:
        for i in range(24):
            leader = PgLeader(url, "scheduler")
            trying = asyncio.create_task(leader.take())
            for _ in range(i % 8):  # cancelled at each step of connecting
                await asyncio.sleep(0)
            trying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await trying
            await leader.release()
        await asyncio.sleep(0.3)  # the attempts that went on have ended
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert unread == []
