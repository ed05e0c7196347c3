"""Shutting down: intake stops first, what is due is delivered, then the clients close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from .conftest import Build


@pytest.mark.timeout(30)
async def test_a_lock_queued_behind_a_budget_wait_reaches_telegram_before_shutdown_ends(
        build: Build, caplog: pytest.LogCaptureFixture):
    # The published limits on: Telegram takes about one message a second in a chat.
    w = await build(rate_limits=True)
    await w.open_topic()
    for i in range(3):
        w.dc.user_sends(w.thread["id"], w.jessica.dc, f"Point {i} from Discord")
    await w.posts(4)  # the topic and the three points, recorded and queued for Telegram
    handle = w.dc.invoke_command(w.kristin.dc, w.guild["id"], w.thread["id"], "lock", {})
    await handle.response(timeout=5)
    async with asyncio.timeout(5):
        while True:
            if any(e.action.value == "lock" for e in await w.runtime.store.outbox()):
                break
            await asyncio.sleep(0.02)
    assert not any("Topic locked" in t for t in w.bot_texts()), \
        "the lock notice waits behind the chat's budget when shutdown begins"

    with caplog.at_level(logging.WARNING):
        await w.runtime.stop()  # what SIGTERM does

    assert any("Topic locked" in t for t in w.bot_texts()), "the lock notice reached Telegram"
    assert any("Point 2 from Discord" in t for t in w.bot_texts()), "and the posts before it"
    pending = [e for e in await _outbox_after(w) if e.state.value != "done"]
    assert pending == [], "nothing left pending or dead"
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "not initialized" not in messages, "nothing was handed to a closed client"


async def _outbox_after(w) -> list:
    """The outbox as the next start finds it (the runtime has closed its database)."""
    from bridgebot.store import open_database
    from bridgebot.store.repo import Store

    from .auxil.dump import setting_of

    db = open_database(setting_of(w.runtime.db))
    await db.open()
    try:
        return await Store(db).outbox()
    finally:
        await db.close()


async def test_messages_written_while_stopping_are_left_for_the_next_start(build: Build):
    w = await build()
    await w.open_topic()
    telegram = w.runtime.adapters["telegram"]
    await telegram.stop_intake()  # type: ignore[attr-defined]
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Written during shutdown",
                    reply_to=w.root["message_id"])
    await asyncio.sleep(0.2)
    assert [p.text for p in await w.runtime.store.posts(1)] == ["Share your examples."], \
        "not taken while stopping"
    assert w.tg.pending_updates(), "Telegram keeps the update for the next start"


async def test_discord_messages_waiting_their_turn_when_intake_stops_are_left_for_the_next_start(
        build: Build, monkeypatch: pytest.MonkeyPatch):
    # A burst in one thread: its messages are taken one after another (their order), so
    # many are waiting their turn when the stop comes. Each takes a moment, as one with a
    # file to fetch does (a post is queued quickly and its commit shared with the others).
    w = await build()
    await w.open_topic()
    adapter = w.runtime.adapters["discord"]
    take = adapter._take_message  # type: ignore[attr-defined]

    async def slowly(message, where):
        await asyncio.sleep(0.02)
        return await take(message, where)

    monkeypatch.setattr(adapter, "_take_message", slowly)
    for i in range(40):
        w.dc.user_sends(w.thread["id"], w.jessica.dc, f"Point {i} from Discord")
    await w.posts(2)  # intake is under way
    await w.runtime.adapters["discord"].stop_intake()  # type: ignore[attr-defined]
    taken = len(await w.runtime.store.posts(1))
    await asyncio.sleep(0.3)
    assert len(await w.runtime.store.posts(1)) == taken < 41, (
        "none taken once intake stopped (the database may close next); the next start's "
        "catch-up reads them")
