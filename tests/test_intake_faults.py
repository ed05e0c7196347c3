"""Intake never acknowledges what it did not commit, and never dies (issue 13): the
database write-locked by another process for 15 s, a full disk, a failing update."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bridgebot.adapters.telegram.adapter import CURSOR, TelegramAdapter
from bridgebot.adapters.telegram.settings import TelegramSettings, WebhookSettings
from bridgebot.core.models import ChannelRef
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.telegram import FakeTelegram
from bridgebot.store.db import Database
from bridgebot.store.postgres import PgDatabase

from .telegram.test_telegram_webhook import free_port

LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@contextlib.contextmanager
def write_locked(path: Path, seconds: float):
    """Another process holds the database's write lock for ``seconds``."""
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.wait(timeout=seconds + 30)


@contextlib.contextmanager
def disk_full(seconds: float):
    """Every write transaction fails as on a full disk for ``seconds`` (an injected error),
    on either store: SQLite's "database or disk is full", PostgreSQL's disk_full (53100)."""
    until = time.monotonic() + seconds
    real_sqlite, real_pg = Database.transaction, PgDatabase.tx

    @contextlib.asynccontextmanager
    async def sqlite_failing(self) -> AsyncIterator:
        if time.monotonic() < until:
            raise sqlite3.OperationalError("database or disk is full")
        async with real_sqlite(self) as tx:
            yield tx

    @contextlib.asynccontextmanager
    async def pg_failing(self) -> AsyncIterator:
        if time.monotonic() < until:
            raise asyncpg.exceptions.DiskFullError("could not extend file: No space left on device")
        async with real_pg(self) as tx:
            yield tx

    Database.transaction = sqlite_failing  # type: ignore[method-assign]
    PgDatabase.tx = pg_failing  # type: ignore[method-assign]
    try:
        yield
    finally:
        Database.transaction = real_sqlite  # type: ignore[method-assign]
        PgDatabase.tx = real_pg  # type: ignore[method-assign]


@pytest.mark.sqlite_only("another process holds SQLite's file lock (BEGIN EXCLUSIVE)")
async def test_a_15_second_write_lock_loses_nothing_on_either_platform(bridged):
    w = bridged
    path = w.runtime.store.db.path
    with write_locked(path, 15):
        started = time.monotonic()
        tg_post = w.tg.user_sends(w.group["id"], w.brittany.tg, "Written on Telegram during the lock",
                                  reply_to=w.root["message_id"])
        w.dc.user_sends(w.thread["id"], w.jessica.dc, "Written on Discord during the lock")
        await asyncio.sleep(6)  # past the busy timeout: the database has refused both
        # Telegram still holds the update: its offset was not confirmed.
        assert any(u["update_id"] >= 0 and u.get("message", {}).get("message_id") ==
                   tg_post["message_id"] for u in w.tg.pending_updates())
        assert w.runtime.core.held_count >= 1
    assert time.monotonic() - started >= 14
    await w.until(lambda: any("during the lock" in m["content"] for m in w.discord_mirrors())
                  and any("during the lock" in m.get("text", "") for m in w.telegram_mirrors()),
                  timeout=30)
    # Intake is alive on both platforms afterwards.
    w.tg.user_sends(w.group["id"], w.brittany.tg, "After the lock (Telegram)", reply_to=w.root["message_id"])
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "After the lock (Discord)")
    await w.until(lambda: any("After the lock (Telegram)" in m["content"] for m in w.discord_mirrors())
                  and any("After the lock (Discord)" in m.get("text", "")
                          for m in w.telegram_mirrors()), timeout=20)
    texts = [p.text for p in await w.runtime.store.posts(1)]
    assert sorted(texts[1:]) == sorted(["Written on Telegram during the lock",
                                        "Written on Discord during the lock",
                                        "After the lock (Telegram)", "After the lock (Discord)"])
    assert not w.tg.pending_updates()


async def test_a_full_disk_during_polling_holds_the_update_until_it_can_be_written(bridged):
    w = bridged
    with disk_full(2.0):
        w.tg.user_sends(w.group["id"], w.brittany.tg, "Sent while the disk is full",
                        reply_to=w.root["message_id"])
        w.dc.user_sends(w.thread["id"], w.jessica.dc, "Discord, disk full")
        await asyncio.sleep(1.0)
        assert w.tg.pending_updates()  # not confirmed
    await w.until(lambda: any("disk is full" in m["content"] for m in w.discord_mirrors())
                  and any("Discord, disk full" in m.get("text", "") for m in w.telegram_mirrors()))
    saved = await w.runtime.store.cursor(CURSOR)
    assert saved is not None
    w.tg.user_sends(w.group["id"], w.brittany.tg, "And later", reply_to=w.root["message_id"])
    await w.until(lambda: any("And later" in m["content"] for m in w.discord_mirrors()))
    assert [p.text for p in await w.runtime.store.posts(1)].count("Sent while the disk is full") == 1


async def test_an_update_that_fails_for_another_reason_is_passed_over_and_intake_goes_on(
        bridged, monkeypatch):
    w = bridged
    core = w.runtime.core
    real = core.accept  # where the adapter hands a message over

    async def accept(msg, **kw):
        if msg.text == "poison":
            raise KeyError("a bug")
        return await real(msg, **kw)

    monkeypatch.setattr(core, "accept", accept)
    w.tg.user_sends(w.group["id"], w.brittany.tg, "poison", reply_to=w.root["message_id"])
    w.tg.user_sends(w.group["id"], w.brittany.tg, "healthy", reply_to=w.root["message_id"])
    await w.until(lambda: any("healthy" in m["content"] for m in w.discord_mirrors()))
    adapter = w.runtime.adapters["telegram"]
    assert adapter.parked == 1
    assert adapter._intake is not None and not adapter._intake.done()


async def test_webhook_answers_an_error_while_the_database_cannot_write_and_telegram_resends(
        db_setting):
    async with FakeTelegram(webhook_retry_delay=0.3) as tg:
        token = tg.add_bot(username="bridgebot_test_bot")
        kristin = tg.add_user("Kristin", "Antin")
        chat = tg.add_chat("Allies", owner=kristin)
        port = free_port()
        settings = TelegramSettings(
            token=token, base_url=tg.url, mode="webhook",
            webhook=WebhookSettings(listen="127.0.0.1", port=port,
                                    public_url=f"http://127.0.0.1:{port}/telegram",
                                    secret_token="s3cret-token_value"),
        )
        runtime = Runtime(db_setting, [Bridge("allies", (ChannelRef("telegram", str(chat["id"])),))])
        adapter = TelegramAdapter(settings)
        adapter._patience = 0.5  # the bounded wait before answering Telegram with an error
        runtime.add_adapter(adapter)
        await runtime.start()
        try:
            with disk_full(2.0):
                tg.user_sends(chat["id"], kristin, "/newtopic Engaging allies")
                await tg.wait_for(lambda: any(d.status >= 500 for d in tg.webhook_deliveries))
            await tg.wait_for(lambda: any(d.status == 200 for d in tg.webhook_deliveries
                                          if d.update_id >= 0) and not tg.pending_updates(),
                              timeout=15)
            await runtime.drain()
            assert [t.title for t in await runtime.store.topics()] == ["Engaging allies"]
            failed = [d for d in tg.webhook_deliveries if d.status >= 500]
            assert failed and all(d.status == 503 for d in failed)
        finally:
            await runtime.stop()


async def test_posts_written_while_the_disk_is_full_are_recorded_once_each_in_order(bridged):
    w = bridged
    writer = w.runtime.store.writer
    with disk_full(1.5):
        for i in range(6):  # one getUpdates answer, held together behind the refused commit
            w.tg.user_sends(w.group["id"], w.brittany.tg, f"held {i}", reply_to=w.root["message_id"])
        last = max(u["update_id"] for u in w.tg.pending_updates())
        await w.until(lambda: writer.held >= 1)
        assert w.tg.pending_updates(), "nothing confirmed while nothing could be written"
    await w.until(lambda: not w.tg.pending_updates(), timeout=20)
    texts = [p.text for p in await w.runtime.store.posts(1)][1:]
    assert texts == [f"held {i}" for i in range(6)]
    assert await w.runtime.store.cursor(CURSOR) == str(last + 1)


async def test_a_webhook_post_held_past_its_patience_is_answered_503_and_recorded_once_when_resent(
        db_setting):
    async with FakeTelegram(webhook_retry_delay=0.3) as tg:
        token = tg.add_bot(username="bridgebot_test_bot")
        kristin = tg.add_user("Kristin", "Antin")
        chat = tg.add_chat("Allies", owner=kristin)
        port = free_port()
        settings = TelegramSettings(
            token=token, base_url=tg.url, mode="webhook",
            webhook=WebhookSettings(listen="127.0.0.1", port=port,
                                    public_url=f"http://127.0.0.1:{port}/telegram",
                                    secret_token="s3cret-token_value"),
        )
        runtime = Runtime(db_setting, [Bridge("allies", (ChannelRef("telegram", str(chat["id"])),))])
        adapter = TelegramAdapter(settings)
        adapter._patience = 0.5  # the bounded wait before answering Telegram with an error
        runtime.add_adapter(adapter)
        await runtime.start()
        try:
            tg.user_sends(chat["id"], kristin, "/newtopic Engaging allies")
            await tg.wait_for(lambda: not tg.pending_updates())
            await runtime.drain()
            root = next(m for m in tg.chat_messages(chat["id"]) if m.get("from", {}).get("is_bot")
                        and m.get("text", "").startswith("Engaging allies"))
            with disk_full(2.0):  # the post waits in the store's writer, past its patience
                tg.user_sends(chat["id"], kristin, "Held past its patience",
                              reply_to=root["message_id"])
                await tg.wait_for(lambda: any(d.status >= 500 for d in tg.webhook_deliveries))
                assert runtime.store.writer.held >= 1
            await tg.wait_for(lambda: not tg.pending_updates(), timeout=15)
            texts = [p.text for p in await runtime.store.posts(1)]
            assert texts.count("Held past its patience") == 1
            assert all(d.status == 503 for d in tg.webhook_deliveries if d.status >= 500)
        finally:
            await runtime.stop()
