"""Discord's gateway among several workers on one PostgreSQL: each gateway shard is a role
one worker holds (``discord-gateway`` with one shard, ``discord-shard-N`` with several), so
every event, a slash command too, reaches one worker; a dead worker's shards are taken over
within seconds, and what was written meanwhile is read from the threads' history. Every
worker still sends (deliveries are leased per chat, not per shard)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.adapters.discord.adapter import GATEWAY_ROLE, DiscordAdapter, shard_role
from bridgebot.adapters.discord.settings import DiscordSettings
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.health import HealthServer
from bridgebot.runtime import SCHEDULER_ROLE, Runtime
from bridgebot.sandbox.clients import discord_adapter
from bridgebot.sandbox.discord import FakeDiscord, Permissions
from bridgebot.store.leader import PgLeader
from bridgebot.store.postgres import PgDatabase

from .auxil.postgres import PostgresServer
from .auxil.world import DISCORD_UNLIMITED, FACILITATOR, FORUM, QUICK_BACKOFF, TOPIC, person
from .conftest import Build
from .test_health import get

on_postgres = pytest.mark.parametrize("store", ["postgresql"], indirect=True)


def worker(dsn: str, bridge: Bridge, dc: FakeDiscord, token: str, guild_id: str,
           **shards: Any) -> Runtime:
    """One more `bridgebot run` worker in process, on the same database and Discord."""
    runtime = Runtime(dsn, [bridge], facilitators=[("console", FACILITATOR.user_id)],
                      relay_backoff=QUICK_BACKOFF)
    adapter = discord_adapter(dc, token, guild_id, limits=DISCORD_UNLIMITED, **shards)
    adapter.gateway_retry = 0.2
    runtime.add_adapter(adapter)
    return runtime


def discord_of(runtime: Runtime) -> DiscordAdapter:
    adapter = runtime.adapters["discord"]
    assert isinstance(adapter, DiscordAdapter)
    return adapter


async def die(runtime: Runtime, dc: FakeDiscord, shard: list[int] | None = None) -> None:
    """The worker's process dies, as far as the others can tell: its gateway connection drops
    without a close frame and the server ends its lock connections (as for a dead host)."""
    adapter = discord_of(runtime)
    adapter._stopping = True  # nothing of it connects again
    for task in (adapter._gateway_keeper, adapter._runner):
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    await dc.disconnect_gateway(code=None, shard=shard)
    admin = await asyncpg.connect(runtime.db.dsn)  # type: ignore[attr-defined]
    try:
        for leader in runtime.leaders.values():
            if isinstance(leader, PgLeader) and leader._conn is not None:
                await admin.fetchval("SELECT pg_terminate_backend($1)",
                                     leader._conn.get_server_pid())
    finally:
        await admin.close()


async def until(predicate: Any, timeout: float, what: str) -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                if result := await predicate():
                    return result
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(what) from None


@contextlib.asynccontextmanager
async def started(runtime: Runtime) -> AsyncIterator[Runtime]:
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


@on_postgres
async def test_one_worker_connects_the_gateway_and_another_takes_it_over_when_it_dies(
        build: Build, db_path):
    one = await build(telegram=(), discord=("channel",), console=("forum",), database=db_path,
                      open_topic=True)
    dc = one.dc
    assert dc is not None and isinstance(one.runtime.db, PgDatabase)
    discord_of(one.runtime).gateway_retry = 0.2
    thread = await one.until(lambda: dc.threads(one.channel["id"]))
    two = worker(one.runtime.db.dsn, one.bridge, dc, one.tokens["discord"], one.guild["id"])
    async with started(two):
        assert await one.runtime.roles() == [SCHEDULER_ROLE, GATEWAY_ROLE]
        assert await two.roles() == [], "the second worker sends only"
        assert dc.gateway_shards() == [None] and dc.stats.identifies == 1, "one gateway"
        assert discord_of(two).health_problem() is None, "a worker without the gateway is up"

        dc.user_sends(thread[0]["id"], one.jessica.dc, "Recorded once")
        posts = await one.posts(2)
        await asyncio.sleep(0.3)  # a second recording would show by now
        assert [p.text for p in await one.runtime.store.posts(1)][1:] == ["Recorded once"]
        assert len(posts) == 2

        handle = dc.invoke_command(one.jessica.dc, one.guild["id"], thread[0]["id"], "status")
        await handle.response(timeout=5)
        await handle.wait_for_followups(1)
        await asyncio.sleep(0.3)  # a second worker's answer would have come by now
        callbacks = dc.calls_to("POST", rf"/interactions/{handle.id}/.*/callback")
        assert len(callbacks) == 1 and callbacks[0].status in (200, 204), "answered once"

        await die(one.runtime, dc)
        dc.user_sends(thread[0]["id"], one.jessica.dc, "Written while no worker listened")
        await until(lambda: _roles_of(two, GATEWAY_ROLE), 10, "not taken over within 10 s")
        await dc.wait_for(lambda: dc.gateway_shards() == [None], 10)
        dc.user_sends(thread[0]["id"], one.jessica.dc, "After the takeover")
        await until(lambda: _texts(two, 4), 10, "not recorded after the takeover")
        await asyncio.sleep(0.3)  # a second recording would show by now
        # Each once; what was missed is read from history beside the live messages.
        assert sorted((await _texts(two, 4) or [])[1:]) == [
            "After the takeover", "Recorded once", "Written while no worker listened"]

        health = HealthServer(two, "127.0.0.1", 0)
        await health.start()
        try:
            status, body, _ = await get(f"{health.url}/healthz")
            _, metrics, _ = await get(f"{health.url}/metrics")
        finally:
            await health.stop()
        assert status == 200, body
        assert body.splitlines()[1].startswith("roles: ") and "discord-gateway" in body
        assert re.search(r'bridgebot_worker_role\{role="discord-gateway",worker="[^"]+"\} 1\.0',
                         metrics)


async def _roles_of(runtime: Runtime, *roles: str) -> bool:
    return set(roles) <= set(await runtime.roles())


async def _texts(runtime: Runtime, count: int) -> list[str] | None:
    texts = [p.text for p in await runtime.store.posts(1)]
    return texts if len(texts) >= count else None


@on_postgres
async def test_two_shards_are_split_between_two_workers_and_one_takes_both_when_the_other_dies(
        build: Build, db_path):
    w = await build(telegram=(), discord=("channel",), console=("forum",), database=db_path,
                    start=False)
    dc = w.dc
    assert dc is not None and isinstance(w.runtime.db, PgDatabase)
    first = (int(w.guild["id"]) >> 22) % 2  # the world's guild's shard
    other = dc.add_guild("Other Tactics", shard=(1 - first, 2))
    brittany = dc.add_member(other["id"], "brittany_l", global_name="Brittany")
    dc.add_role(other["id"], "Facilitator", Permissions.MANAGE_THREADS)
    lounge = dc.add_text_channel(other["id"], "allies-too")
    bridge = Bridge("allies", (FORUM, ChannelRef("discord", w.channel["id"]),
                               ChannelRef("discord", lounge["id"])))
    dsn = w.runtime.db.dsn
    token = w.tokens["discord"]
    # Each worker's own shard, the world's guild's for the first; each stands by for the other.
    a = worker(dsn, bridge, dc, token, w.guild["id"], shard_count=2, shard_ids=[first])
    b = worker(dsn, bridge, dc, token, w.guild["id"], shard_count=2, shard_ids=[1 - first])
    discord_of(b).standby_delay = 0.5
    async with started(a), started(b):
        assert await a.roles() == [SCHEDULER_ROLE, shard_role(first)]
        assert await b.roles() == [shard_role(1 - first)]
        assert sorted(dc.gateway_shards()) == [[0, 2], [1, 2]], "each shard connected once"
        answer = await run_command(a.core, CommandContext(FACILITATOR, FORUM), "newtopic",
                                   TOPIC.removeprefix("/newtopic "))
        assert "is open" in answer, answer

        async def delivered() -> bool:  # the topic's thread in each guild, recorded
            threads = await a.core.open_threads("discord")
            return len(threads) == 2 and all(place.thread_id for place, _ in threads)

        await until(delivered, 10, "the topic was not delivered to both guilds")
        here = dc.threads(w.channel["id"])[0]
        there = dc.threads(lounge["id"])[0]
        dc.user_sends(here["id"], w.jessica.dc, "From the first guild")
        dc.user_sends(there["id"], brittany, "From the other guild")
        await until(lambda: _texts(a, 3), 10, "not recorded")
        assert sorted((await _texts(a, 3) or [])[1:]) == ["From the first guild",
                                                          "From the other guild"]

        await die(a, dc, [first, 2])
        dc.user_sends(here["id"], w.jessica.dc, "While the first worker is gone")
        await until(lambda: _roles_of(b, shard_role(0), shard_role(1)), 10,
                    "the dead worker's shard was not taken over within 10 s")
        await dc.wait_for(lambda: sorted(dc.gateway_shards()) == [[0, 2], [1, 2]], 10)
        dc.user_sends(here["id"], w.jessica.dc, "After the takeover")
        await until(lambda: _texts(b, 5), 10, "not recorded after the takeover")
        assert sorted((await _texts(b, 5) or [])[1:]) == sorted([
            "From the first guild", "From the other guild", "While the first worker is gone",
            "After the takeover"])
        assert discord_of(b).health_problem() is None


def test_shard_ids_must_be_within_the_shard_count():
    with pytest.raises(ValueError, match="between 0 and shard_count - 1"):
        DiscordSettings(token="t", shard_count=2, shard_ids=[2])  # type: ignore[arg-type]
    assert DiscordSettings(token="t", shard_count=3).shards() == [0, 1, 2]  # type: ignore[arg-type]
    assert DiscordSettings(token="t", shard_count=3,  # type: ignore[arg-type]
                           shard_ids=[2, 0]).shards() == [0, 2]


async def test_a_lone_worker_leads_every_shard(postgres_server: PostgresServer):
    adapter = DiscordAdapter(DiscordSettings(token="t", shard_count=3))  # type: ignore[arg-type]
    runtime = Runtime(postgres_server.fresh(), [])
    runtime.add_adapter(adapter)
    assert adapter.leader_roles == ("discord-shard-0", "discord-shard-1", "discord-shard-2")
    assert set(adapter.leaders) == set(adapter.leader_roles) and all(
        runtime.leaders[r] is adapter.leaders[r] for r in adapter.leader_roles)


@on_postgres
async def test_a_worker_stopped_cleanly_hands_the_gateway_on(build: Build, db_path):
    one = await build(telegram=(), discord=("channel",), console=("forum",), database=db_path,
                      open_topic=True)
    dc = one.dc
    assert dc is not None and isinstance(one.runtime.db, PgDatabase)
    thread = (await one.until(lambda: dc.threads(one.channel["id"])))[0]["id"]
    two = worker(one.runtime.db.dsn, one.bridge, dc, one.tokens["discord"], one.guild["id"])
    async with started(two):
        assert await two.roles() == []
        identified = dc.stats.identifies
        await one.runtime.stop()  # its gateway closes before its roles are released
        dc.user_sends(thread, one.jessica.dc, "Written during the hand-over")
        await until(lambda: _roles_of(two, GATEWAY_ROLE), 5, "not handed on within 5 s")
        await dc.wait_for(lambda: dc.stats.identifies > identified and dc.gateway_shards(), 5)
        dc.user_sends(thread, one.jessica.dc, "After the hand-over")
        await until(lambda: _texts(two, 3), 10, "not recorded after the hand-over")
        assert sorted((await _texts(two, 3) or [])[1:]) == [
            "After the hand-over", "Written during the hand-over"]


@on_postgres
async def test_a_worker_without_the_gateway_fetches_a_thread_once_for_many_posts(
        build: Build, db_path):
    w = await build(telegram=(), discord=("channel",), console=("forum",), database=db_path,
                    start=False)
    dc = w.dc
    assert dc is not None and isinstance(w.runtime.db, PgDatabase)
    elsewhere = PgLeader(w.runtime.db.dsn, GATEWAY_ROLE)  # another worker holds the gateway
    assert await elsewhere.take()
    sender = worker(w.runtime.db.dsn, w.bridge, dc, w.tokens["discord"], w.guild["id"])
    console = ConsoleAdapter()
    sender.add_adapter(console)
    try:
        async with started(sender):
            assert dc.gateway_shards() == [] and GATEWAY_ROLE not in await sender.roles()
            answer = await run_command(sender.core, CommandContext(FACILITATOR, FORUM),
                                       "newtopic", TOPIC.removeprefix("/newtopic "))
            assert "is open" in answer, answer
            thread = (await dc.wait_for(lambda: dc.threads(w.channel["id"]), 10))[0]["id"]
            await until(lambda: _delivered(sender), 10, "the topic was not delivered")
            for i in range(5):
                await console.say("forum", person("Brittany Landorf"), f"Example {i}")
            await dc.wait_for(lambda: len([m for m in dc.channel_messages(thread)
                                           if m.get("webhook_id")]) == 5, 10)
            fetched = dc.calls_to("GET", rf"^/channels/{thread}$")
            assert len(fetched) <= 1, "the thread is asked for once, not before every post"
    finally:
        await elsewhere.release()


async def _delivered(runtime: Runtime) -> bool:
    return all(e.state.value == "done" for e in await runtime.store.outbox())
