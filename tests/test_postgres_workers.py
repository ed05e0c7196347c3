"""Several workers on one PostgreSQL: each delivery target is leased to one worker at a
time (one sender per chat keeps its order and its rate budget), a dead worker's lease
runs out and another takes the target over, a clean stop hands its targets on at once,
and new work wakes every worker through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio

import pytest

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.store.postgres import PgDatabase

from .auxil.postgres import PostgresServer
from .auxil.world import FACILITATOR, FORUM, person
from .conftest import ROOMS, Build

on_postgres = pytest.mark.parametrize("store", ["postgresql"], indirect=True)


async def test_a_target_is_leased_to_one_worker_until_its_lease_runs_out(
        postgres_server: PostgresServer):
    url = postgres_server.fresh()
    first, second = PgDatabase(url, lease_seconds=0.5), PgDatabase(url, lease_seconds=0.5)
    await first.open()
    await second.open()
    try:
        lounge, forum = ("console", "lounge"), ("console", "forum")
        assert await first.held([lounge]) == {lounge}
        assert await second.held([lounge, forum]) == {forum}, "lounge is the first worker's"
        assert await first.held([lounge]) == {lounge}, "renewed by its holder"
        await asyncio.sleep(0.7)  # the first worker stops renewing: it died, say
        assert await second.held([lounge]) == {lounge}, "taken over"
        assert await first.held([lounge]) == set(), "and not handed back while it lives"
    finally:
        await first.close()
        await second.close()


async def test_two_workers_share_a_bursts_chats_instead_of_the_first_taking_them_all(
        postgres_server: PostgresServer):
    url = postgres_server.fresh()
    first, second = PgDatabase(url), PgDatabase(url)
    await first.open()
    await second.open()
    operator = PgDatabase(url)  # an operator command: it delivers nothing, so it is no worker
    await operator.open()
    try:
        chats = [("telegram", str(-1001 - i)) for i in range(4)]
        assert await second.held([]) == set()  # its relay has looked: nothing to do yet
        mine = await first.held(chats)  # a burst in four chats; the first to look after it
        assert len(mine) == 2, "its half of the chats with work, two workers delivering"
        assert await second.held(chats) == set(chats) - mine, "the other half"
        assert await first.held(chats) == mine, "its own renewed, none of the other's"
        await second.close()  # a clean stop: its chats are handed on
        assert await first.held(chats) == set(chats), "alone again: every chat"
    finally:
        await first.close()
        await second.close()
        await operator.close()


async def test_a_clean_stop_hands_its_targets_on_at_once_and_wakes_the_others(
        postgres_server: PostgresServer):
    url = postgres_server.fresh()
    first, second = PgDatabase(url), PgDatabase(url)
    await first.open()
    await second.open()
    woken = asyncio.Event()
    second.on_outbox(woken.set)
    try:
        lounge = ("console", "lounge")
        assert await first.held([lounge]) == {lounge}
        assert await second.held([lounge]) == set()
        await first.close()
        await asyncio.wait_for(woken.wait(), 5)
        assert await second.held([lounge]) == {lounge}
    finally:
        await first.close()
        await second.close()


async def test_a_killed_workers_targets_are_taken_over_when_its_connections_close(
        postgres_server: PostgresServer):
    url = postgres_server.fresh()
    first, second = PgDatabase(url), PgDatabase(url)  # 30 s leases, as shipped
    await first.open()
    await second.open()
    try:
        lounge = ("console", "lounge")
        assert await first.held([lounge]) == {lounge}
        assert await second.held([lounge]) == set()
        # SIGKILL: the kernel closes the dead worker's sockets; nothing is released.
        assert first._listener is not None and first._pool is not None
        first._listener.terminate()
        first._pool.terminate()
        for _ in range(50):  # the server ends the closed connection's process at once
            if await second.held([lounge]):
                break
            await asyncio.sleep(0.05)
        assert await second.held([lounge]) == {lounge}, "taken over long before 30 s"
    finally:
        await second.close()


async def test_a_worker_whose_listen_connection_was_cut_listens_again_and_keeps_its_targets(
        postgres_server: PostgresServer):
    url = postgres_server.fresh()
    first, second = PgDatabase(url), PgDatabase(url)
    await first.open()
    await second.open()
    woken = asyncio.Event()
    first.on_outbox(woken.set)
    try:
        lounge = ("console", "lounge")
        assert await first.held([lounge]) == {lounge}
        assert first._listener is not None
        cut = first._listener.get_server_pid()
        assert await second.pool.fetchval("SELECT pg_terminate_backend($1)", cut)
        for _ in range(50):
            if first._listener.is_closed():
                break
            await asyncio.sleep(0.05)
        assert await second.held([lounge]) == {lounge}, "it looked dead from outside"
        assert await first.held([lounge]) == set(), "and is not handed back while the other lives"
        assert first._listener is not None and not first._listener.is_closed(), "listening again"
        assert woken.is_set(), "and looks for what was committed meanwhile"
        woken.clear()
        async with second.tx() as tx:
            await tx.dialect.announce(tx)
        await asyncio.wait_for(woken.wait(), 5)
        await second.close()  # its chats are handed on
        assert await first.held([lounge]) == {lounge}
    finally:
        await first.close()
        await second.close()


@on_postgres
async def test_two_workers_deliver_every_post_once_in_order(build: Build, db_path):
    # One console stands for a platform both workers talk to (as two bots on one token).
    rooms = ConsoleAdapter()
    one = await build(telegram=(), discord=(), console=ROOMS, database=db_path, console_adapter=rooms)
    two = await build(telegram=(), discord=(), console=ROOMS, database=db_path, console_adapter=rooms)
    woken = asyncio.Event()
    assert isinstance(one.runtime.db, PgDatabase)
    one.runtime.db.on_outbox(woken.set)
    await run_command(two.runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Allies\nIntro")
    await asyncio.wait_for(woken.wait(), 5)  # the other worker heard of it at once
    await two.runtime.drain()
    await one.runtime.drain()
    for i in range(30):
        await rooms.say("forum", person("Brittany"), f"example {i}")

    def lounge() -> list[str]:
        return [m.text for m in rooms.visible("lounge")]

    async with asyncio.timeout(20):
        while True:
            if len(lounge()) >= 31:
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # anything sent twice has had time to be
    shown = lounge()
    assert len(shown) == 31 and len(set(shown)) == 31, "every delivery once"
    numbers = [int(t.split()[0].lstrip("#")) for t in shown[1:]]
    assert numbers == list(range(2, 32)), "in the order they were posted"
    holders = await one.runtime.db.fetch("SELECT owner FROM delivery_leases WHERE chat_id = 'lounge'")
    assert [r[0] for r in holders] in ([one.runtime.db.worker], [two.runtime.db.worker])


@on_postgres
async def test_metrics_say_which_chats_each_worker_delivers_to(build: Build, db_path):
    from prometheus_client.parser import text_string_to_metric_families

    from bridgebot.health import HealthServer

    from .test_health import get

    rooms = ConsoleAdapter()
    workers = [await build(telegram=(), discord=(), console=ROOMS, database=db_path,
                           console_adapter=rooms) for _ in range(2)]
    await run_command(workers[0].runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic",
                      "Allies\nIntro")
    for w in workers:
        await w.runtime.drain()
    held: dict[str, float] = {}
    for w in workers:
        health = HealthServer(w.runtime, "127.0.0.1", 0)
        await health.start()
        try:
            _, metrics, _ = await get(f"{health.url}/metrics")
        finally:
            await health.stop()
        [family] = [f for f in text_string_to_metric_families(metrics)
                    if f.name == "bridgebot_worker_delivers_to"]
        [sample] = family.samples
        assert isinstance(w.runtime.db, PgDatabase)
        assert sample.labels == {"worker": w.runtime.db.worker, "platform": "console"}
        held[w.runtime.db.worker] = sample.value
    assert sorted(held.values()) in ([0.0, 2.0], [1.0, 1.0]), "forum and lounge, one worker each"


@on_postgres
async def test_a_worker_taking_a_chat_over_counts_what_was_sent_there_in_the_last_minute(
        build: Build, db_path):
    from bridgebot.core.models import ChannelRef
    from bridgebot.runtime import Runtime
    from bridgebot.sandbox.clients import telegram_adapter

    one = await build(telegram=("group",), discord=(), console=ROOMS, database=db_path,
                      open_topic=True)
    assert one.tg is not None and isinstance(one.runtime.db, PgDatabase)
    for i in range(4):
        await one.say(person("Brittany"), f"example {i}")
    group = ChannelRef("telegram", str(one.group["id"]))
    sent = len(one.bot_messages())
    assert sent >= 5, "the topic and its posts went to the Telegram group"
    # Another worker, with Telegram's published limits (20 messages a minute in a group).
    two = Runtime(one.runtime.db.dsn, [one.bridge])
    two.add_adapter(telegram_adapter(one.tg, one.tokens["telegram"]))
    await two.open()
    try:
        fresh = two.budget.wait_time(group, 21 - sent)
        await one.runtime.stop()  # hands the group on
        assert await two.db.held([("telegram", group.chat_id)]) == {("telegram", group.chat_id)}
        waited = two.budget.wait_time(group, 21 - sent)
        assert fresh < 30 < waited, (
            f"the group's minute counts the {sent} messages the other worker sent: "
            f"{21 - sent} more fit after {waited:.0f} s, not {fresh:.0f} s")
    finally:
        await two.db.close()


@on_postgres
async def test_a_stopping_worker_hands_its_chats_on_once_its_relay_stopped_not_after_its_clients(
        build: Build, db_path):
    rooms = ConsoleAdapter()
    w = await build(telegram=(), discord=(), console=ROOMS, database=db_path,
                    console_adapter=rooms, open_topic=True)
    assert isinstance(w.runtime.db, PgDatabase)
    db = w.runtime.db
    assert await db.leased(), "it delivers to the rooms"
    seen: list[list[tuple[str, str]]] = []
    closing = rooms.stop

    async def stop() -> None:  # the platforms' clients close (Discord's gateway: seconds)
        seen.append(await db.leased())
        present = await db.fetch("SELECT owner FROM delivery_leases WHERE platform = ''")
        assert [r[0] for r in present] == [], "nor counted among the workers sharing them"
        await closing()

    rooms.stop = stop  # type: ignore[method-assign]
    await w.runtime.stop()
    assert seen == [[]], "the other workers could deliver there already"


@on_postgres
async def test_a_worker_leases_no_chat_of_a_platform_it_has_no_adapter_for(build: Build, db_path):
    """Two workers with different adapters (one sends to the console rooms, the other to
    Telegram only): the second must not lease the rooms, or their deliveries wait for as
    long as it lives (it renews what it leased at every look). Found by two workers sharing
    a photo, one with Telegram's adapter, one with Discord's: half the time the Telegram
    worker leased the Discord channel and the photo never crossed."""
    from bridgebot.store.repo import Store

    rooms = ConsoleAdapter()
    one = await build(telegram=(), discord=(), console=ROOMS, database=db_path,
                      console_adapter=rooms, start=False)
    await one.runtime.open()  # no relay yet: the topic's deliveries stay pending
    assert isinstance(one.runtime.db, PgDatabase)
    other = PgDatabase(one.runtime.db.dsn)
    await other.open()
    try:
        await run_command(one.runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic",
                          "Allies\nIntro")
        heads = await Store(other).pending_heads({"telegram"})
        assert {h.target.chat_id for h in heads} == {"forum", "lounge"}, "seen, for the warning"
        assert await other.leased() == [], "but not leased: it cannot send there"
    finally:
        await other.close()
        await one.runtime.db.close()


@on_postgres
async def test_a_killed_workers_chats_are_taken_over_without_waiting_for_a_new_post(
        build: Build, db_path):
    """A worker killed while it holds chats with deliveries pending: another worker takes
    them over within seconds although nothing new is posted. A death is nobody's commit, so
    no NOTIFY comes: the relay's look every few seconds while deliveries wait (the privacy
    keeper's) finds the dead worker's leases and takes them."""
    rooms = ConsoleAdapter()
    one = await build(telegram=(), discord=(), console=ROOMS, database=db_path,
                      console_adapter=rooms, start=False)
    await one.runtime.open()
    assert isinstance(one.runtime.db, PgDatabase)
    await run_command(one.runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic",
                      "Allies\nIntro")
    await one.runtime.db.close()
    doomed = PgDatabase(one.runtime.db.dsn)
    await doomed.open()
    rooms_of = {("console", "forum"), ("console", "lounge")}
    assert await doomed.held(rooms_of) == rooms_of, "it looked first and took both rooms"
    await one.runtime.start()
    await asyncio.sleep(0.5)
    assert rooms.visible("lounge") == [], "held by the other worker, which lives"
    # SIGKILL: the kernel closes the dead worker's sockets; nothing is released.
    assert doomed._listener is not None and doomed._pool is not None
    doomed._listener.terminate()
    doomed._pool.terminate()
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    async with asyncio.timeout(15):
        while True:
            if rooms.visible("lounge"):
                break
            await asyncio.sleep(0.05)
    assert loop.time() - killed_at < 10, "taken over well before the lease's 30 s ran out"
    assert "Allies" in rooms.visible("lounge")[0].text
