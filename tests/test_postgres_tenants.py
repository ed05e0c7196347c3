"""Several deployments in one PostgreSQL database, one schema each (``?search_path=NAME``):
advisory locks and LISTEN/NOTIFY channels belong to the whole database, so each deployment
derives its own from its schema. Two schemas are two deployments that neither share a
leader, a migration lock nor wake-ups; the workers of one schema still share all three."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from bridgebot.runtime import SCHEDULER_ROLE, TELEGRAM_POLLING_ROLE
from bridgebot.store.db import DatabaseUnusable
from bridgebot.store.leader import PgLeader
from bridgebot.store.pg_scope import channel, migration_key, role_key
from bridgebot.store.postgres import PgDatabase
from bridgebot.store.repo import Store

from .auxil.postgres import PostgresServer
from .conftest import Build

ROLES = ("telegram-polling", "scheduler", "discord-gateway", "discord-shard-0")

on_postgres = pytest.mark.parametrize("store", ["postgresql"], indirect=True)


def schema_of(url: str) -> str:
    """The schema a test address names (``...?search_path=tN``)."""
    return url.rsplit("search_path=", 1)[1]


async def test_two_deployments_in_two_schemas_each_lead_every_role_at_the_same_time(
        postgres_server: PostgresServer):
    first, second = postgres_server.fresh(), postgres_server.fresh()
    leaders = {(url, role, n): PgLeader(url, role)
               for url in (first, second) for role in ROLES for n in (1, 2)}
    try:
        for role in ROLES:
            assert await leaders[first, role, 1].take(), f"the first deployment's {role}"
            assert await leaders[second, role, 1].take(), (
                f"the second deployment (its own bot token) leads its own {role} too")
            assert not await leaders[first, role, 2].take(), "one leader per deployment"
            assert not await leaders[second, role, 2].take(), "one leader per deployment"
        await leaders[first, "telegram-polling", 1].release()
        assert await leaders[first, "telegram-polling", 2].take(), "taken over within it"
        assert await leaders[second, "telegram-polling", 1].leads(), "the other keeps its own"
    finally:
        for leader in leaders.values():
            await leader.release()


@on_postgres
async def test_two_deployments_in_one_database_each_poll_their_own_bot(build: Build, tmp_path):
    """Two groups hosted side by side, each its bot token and its schema of one database:
    each deployment polls its own Telegram bot (before, the second never did: the first
    held the one telegram-polling lock of the database, and its topic never opened)."""
    one, two = [await build(telegram=("group",), discord=(), open_topic=True,
                            database=tmp_path / name / "bridgebot.sqlite3")
                for name in ("one", "two")]
    assert isinstance(one.runtime.db, PgDatabase) and isinstance(two.runtime.db, PgDatabase)
    assert one.runtime.db.schema != two.runtime.db.schema, "two schemas"
    assert one.runtime.db.dsn.split("?")[0] == two.runtime.db.dsn.split("?")[0], "one database"
    for w in (one, two):
        assert await w.runtime.roles() == [SCHEDULER_ROLE, TELEGRAM_POLLING_ROLE]
        assert w.tg is not None
        w.tg.user_sends(w.group["id"], w.brittany.tg, "example", reply_to=w.root["message_id"])
    for w in (one, two):
        assert [p.text for p in await w.posts(2)][1:] == ["example"]


def test_the_default_schema_keeps_its_names_so_old_and_new_workers_share_them():
    # Workers of the release before and after this one side by side (an upgrade replacing
    # them one by one) must neither both lead nor miss each other's wake-ups: a database's
    # single deployment lives in `public`.
    assert role_key("telegram-polling", "public") == 7116717810368306073
    assert role_key("scheduler", "public") == -5929847591783519095
    assert migration_key("public") == 0x627269646765626F
    assert channel("public") == "bridgebot_outbox"
    assert role_key("scheduler", "t1") not in (role_key("scheduler", "public"),
                                               role_key("scheduler", "t2"))
    assert migration_key("t1") not in (migration_key("public"), migration_key("t2"))
    longest = "é" * 31  # a schema's name may take all of PostgreSQL's 63 bytes
    names = {channel(schema) for schema in ("public", "t1", "T1", longest, longest[:-1])}
    assert len(names) == 5 and all(len(n.encode()) <= 63 and n.isidentifier() for n in names)


async def test_a_commit_in_one_schema_wakes_that_deployments_workers_and_not_the_others(
        postgres_server: PostgresServer):
    first, second = postgres_server.fresh(), postgres_server.fresh()
    mine, neighbour, elsewhere = PgDatabase(first), PgDatabase(first), PgDatabase(second)
    woken = {db: asyncio.Event() for db in (mine, neighbour, elsewhere)}
    calls = {db: 0 for db in woken}

    def listener(db: PgDatabase):
        def wake() -> None:
            calls[db] += 1
            woken[db].set()
        return wake

    try:
        for db in woken:
            await db.open()
            db.on_outbox(listener(db))
        async with mine.tx() as tx:
            await tx.dialect.announce(tx)
        await asyncio.wait_for(woken[neighbour].wait(), 5)  # the same deployment's worker
        await asyncio.wait_for(woken[mine].wait(), 5)
        # The other deployment's own commit, after: a session hears notifications in commit
        # order, so by the time it hears its own it would have heard the first one.
        async with elsewhere.tx() as tx:
            await tx.dialect.announce(tx)
        await asyncio.wait_for(woken[elsewhere].wait(), 5)
        assert calls[elsewhere] == 1, "woken by its own commit alone, not by the other schema's"
        assert calls[mine] == calls[neighbour] == 1, "nor is the first woken by the second's"
    finally:
        for db in woken:
            await db.close()


async def test_one_deployments_migration_does_not_hold_up_anothers_start(
        postgres_server: PostgresServer):
    first, second = postgres_server.fresh(), postgres_server.fresh()
    migrating, resume = asyncio.Event(), asyncio.Event()
    slow = PgDatabase(first)
    checked = slow._refuse_foreign

    async def paused(conn: asyncpg.Connection) -> None:  # under the migration lock
        migrating.set()
        await resume.wait()
        await checked(conn)

    slow._refuse_foreign = paused  # type: ignore[method-assign]
    opening = asyncio.create_task(slow.open())
    same = PgDatabase(first)
    waiting = None
    other = PgDatabase(second)
    try:
        await asyncio.wait_for(migrating.wait(), 10)
        await asyncio.wait_for(other.open(), 20)  # not after the first deployment's migration
        waiting = asyncio.create_task(same.open())
        await asyncio.sleep(0.3)
        assert not waiting.done(), "a worker of the same deployment waits for its migration"
        resume.set()
        await asyncio.wait_for(opening, 20)
        await asyncio.wait_for(waiting, 20)
        assert [r[0] for r in await same.fetch("SELECT COUNT(*) FROM schema_version")] == [1]
    finally:
        resume.set()
        for task in (opening, waiting):
            if task is not None:
                with contextlib.suppress(Exception):
                    await task
        for db in (slow, same, other):
            await db.close()


async def test_a_search_path_reaching_another_deployments_schema_still_gets_tables_of_its_own(
        postgres_server: PostgresServer):
    """``search_path=mine,theirs``: bridgebot's tables go in the first schema, but a
    schema_version found further along the path was taken as this deployment's, so it ran
    on the other deployment's tables (its cursors, topics and posts)."""
    theirs = postgres_server.fresh()
    older = PgDatabase(theirs)
    await older.open()
    url = f"{postgres_server.fresh()},{schema_of(theirs)}"
    newer = PgDatabase(url)
    await newer.open()
    try:
        await Store(newer).save_cursor("telegram", "42")
        assert await Store(newer).cursor("telegram") == "42"
        assert await Store(older).cursor("telegram") is None, "the other deployment's own data"
        tables = await newer.fetch("SELECT tablename FROM pg_tables WHERE schemaname = ?",
                                   (schema_of(url).split(",")[0],))
        assert {"schema_version", "topics", "posts"} <= {r[0] for r in tables}
    finally:
        await newer.close()
        await older.close()


async def test_a_search_path_naming_no_schema_that_exists_is_one_line(
        postgres_server: PostgresServer):
    db = PgDatabase(f"{postgres_server.url}?search_path=nosuch")
    with pytest.raises(DatabaseUnusable, match=r"nosuch.*CREATE SCHEMA"):
        await db.open()
    await db.close()
