"""Leaders among real `bridgebot run` processes on one PostgreSQL: the process that polls
Telegram is killed (SIGKILL) while updates arrive, then the one holding Discord's gateway.
Each time another process takes the role over within 10 s, and every message sent before,
during and after is recorded once and mirrored once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridgebot.runtime import Runtime
from bridgebot.store.postgres import PgDatabase

from .auxil.workers import Worker, workers
from .conftest import Build

pytestmark = pytest.mark.parametrize("store", ["postgresql"], indirect=True)

NUMBER = re.compile(r"(?:· |-# )#(\d+)")
POLLING, GATEWAY = "telegram-polling", "discord-gateway"


async def wait_for(predicate: Callable[[], Any], timeout: float, what: str | Callable[[], str]
                   ) -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = predicate()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return result
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(what() if callable(what) else what) from None


async def holder(crew: list[Worker], role: str) -> Worker | None:
    """The one running worker that says it holds ``role`` (None if none does, or several)."""
    holding = [w for w in crew if w.running and role in (await w.roles() or [])]
    return holding[0] if len(holding) == 1 else None


@pytest.mark.timeout(150)
async def test_a_killed_leader_is_replaced_within_10_s_and_nothing_is_lost_or_doubled(
        tmp_path: Path, build: Build, db_path: Path):
    w = await build(start=False, database=db_path)  # the bot runs as three processes
    tg, dc, group, channel = w.tg, w.dc, w.group, w.channel
    assert tg is not None and dc is not None and isinstance(w.runtime.db, PgDatabase)
    dsn = w.runtime.db.dsn
    people = [tg.add_user(f"Telegrammer{i}") for i in range(5)]
    config = tmp_path / "bridgebot.toml"
    config.write_text(w.config_toml(dsn, tokens=True))
    reader = Runtime(dsn, [])
    await reader.open(apply_settings=False)
    sent: list[str] = []

    def tg_says(i: int, root: int) -> None:
        text = f"telegram {i}"
        tg.user_sends(group["id"], people[i % 5], text, reply_to=root)
        sent.append(text)

    def dc_says(i: int, thread: str) -> None:
        text = f"discord {i}"
        dc.user_sends(thread, w.jessica.dc, text)
        sent.append(text)

    async def recorded() -> list[str]:
        return [p.text for p in await reader.store.posts(1)][1:]

    def on_discord(thread: str) -> list[int]:
        return [int(n) for m in dc.channel_messages(thread) if m.get("webhook_id")
                for n in NUMBER.findall(m["content"])]

    def on_telegram() -> list[int]:
        return [int(n) for m in tg.chat_messages(group["id"]) if m.get("from", {}).get("is_bot")
                for n in NUMBER.findall(m.get("text", "")) if "· Discord · #" in m.get("text", "")]

    try:
        async with workers(config, 3) as crew:
            await wait_for(lambda: _one_each(crew), 60,
                           "the workers did not start, one polling and one on the gateway")
            tg.user_sends(group["id"], w.kristin.tg, "/newtopic Leaders\nWho polls?")
            thread = (await wait_for(lambda: dc.threads(channel["id"]), 20, "no topic thread")
                      )[0]["id"]
            root = (await wait_for(lambda: [
                m for m in tg.chat_messages(group["id"]) if m.get("from", {}).get("is_bot")
                and m.get("text", "").startswith("Leaders")], 20, "no topic message"))[0]
            root_id = root["message_id"]
            await wait_for(lambda: _delivered(reader), 20, "the topic was not delivered")
            for i in range(10):
                tg_says(i, root_id)
            await wait_for(lambda: len(on_discord(thread)) >= 10, 20, "nothing mirrored")

            # The poller dies while updates arrive, one every 50 ms.
            poller = await holder(crew, POLLING)
            assert poller is not None

            async def flow(start: int, stop: int) -> None:
                for i in range(start, stop):
                    tg_says(i, root_id)
                    await asyncio.sleep(0.05)

            flowing = asyncio.create_task(flow(10, 40))
            await asyncio.sleep(0.3)
            killed_at = tg.clock()
            await poller.kill()
            others = [x for x in crew if x is not poller]
            # Within 10 s another worker polls: it holds the role, getUpdates is answered
            # again, and what is sent since the death is recorded.
            marker = len(sent)
            await wait_for(lambda: _took_over(others, tg, killed_at, recorded, sent[marker:]),
                           10, "no other worker polled within 10 s of the poller's death")
            await flowing
            for i in range(40, 45):  # after the takeover
                tg_says(i, root_id)
            await wait_for(lambda: _have(recorded, 45), 30,
                           "not every Telegram update was recorded after the takeover")
            await wait_for(lambda: len(on_discord(thread)) >= 45, 30,
                           lambda: f"not every post reached Discord: {sorted(on_discord(thread))}")

            # Then the worker holding Discord's gateway dies (quietly: nothing in flight).
            for i in range(5):
                dc_says(i, thread)
            await wait_for(lambda: len(on_telegram()) >= 5, 30, "nothing mirrored to Telegram")
            gateway = await wait_for(lambda: holder(crew, GATEWAY), 20, "no gateway holder")
            identified = dc.stats.identifies
            await gateway.kill()

            async def talk(start: int, stop: int) -> None:  # while no worker is connected
                for i in range(start, stop):
                    dc_says(i, thread)
                    await asyncio.sleep(0.3)

            talking = asyncio.create_task(talk(5, 10))
            await wait_for(lambda: dc.stats.identifies > identified and dc.gateway_shards(), 10,
                           "no other worker connected Discord's gateway within 10 s")
            assert await holder(crew, GATEWAY) is not None
            await talking
            for i in range(10, 15):
                dc_says(i, thread)
            await wait_for(lambda: _have(recorded, 60), 30,
                           "not every Discord message was recorded after the takeover")
            await wait_for(lambda: len(on_telegram()) >= 15, 30,
                           lambda: f"not every post reached Telegram: {sorted(on_telegram())}")
            await asyncio.sleep(1.0)  # a second recording or copy would show by now
            texts = await recorded()
            numbers = {p.text: p.number for p in await reader.store.posts(1)}
    finally:
        await reader.db.close()

    assert sorted(texts) == sorted(sent), "every message is exactly one post"
    from_telegram = sorted(numbers[t] for t in sent if t.startswith("telegram"))
    from_discord = sorted(numbers[t] for t in sent if t.startswith("discord"))
    mirrored_dc = on_discord(thread)
    assert sorted(mirrored_dc) == from_telegram, "every Telegram post on Discord once"
    assert sorted(on_telegram()) == from_discord, "every Discord post on Telegram once"


async def _one_each(crew: list[Worker]) -> bool:
    roles = [await w.roles() for w in crew]
    if any(r is None for r in roles):
        return False
    held = [role for r in roles for role in r or []]
    return held.count(POLLING) == 1 and held.count(GATEWAY) == 1


async def _took_over(others: list[Worker], tg: Any, since: float,
                     recorded: Callable[[], Any], sent_since: list[str]) -> bool:
    """Another worker holds the polling role, a getUpdates call was answered since the
    poller's death, and an update sent since then is recorded (only a poller gets it)."""
    if await holder(others, POLLING) is None:
        return False
    if not [c for c in tg.calls_to("getUpdates") if c.at > since and c.status == 200]:
        return False
    return bool(set(sent_since) & set(await recorded()))


async def _have(recorded: Callable[[], Any], count: int) -> bool:
    return len(await recorded()) >= count


async def _delivered(reader: Runtime) -> bool:
    """Every delivery made (a reply to the topic's message counts once its copy is known)."""
    return all(e.state.value == "done" for e in await reader.store.outbox())
