"""Once-only and durable: restarts, resent transactions, resent deliveries, encrypted rooms."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest
from mautrix.types import RoomID

from bridgebot.core.models import Action, ChannelRef, Delivery

from .conftest import MatrixWorld
from .test_matrix_discussion import _ghost_events, _tg_root, open_topic


async def test_a_restart_loses_and_duplicates_nothing(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    await w.member.say(w.room, "Before the restart", thread=root["event_id"])
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    await w.until(lambda: w.discord_mirrors(thread["id"]))
    await w.stop()
    # While bridgebot is down: a Matrix post (the homeserver cannot deliver it) and a
    # Telegram post (waiting in getUpdates).
    await w.member.say(w.room, "While it was down", thread=root["event_id"])
    w.tg.user_sends(w.group["id"], w.brittany, "Also while down", reply_to=_tg_root(w)["message_id"])
    await w.start()
    await w.until(lambda: any("While it was down" in m["content"]
                              for m in w.discord_mirrors(thread["id"])))
    await w.matrix_events(_ghost_events(w, "Also while down"))
    # A later post arrives after everything the homeserver queued before it (it sends
    # transactions in order): by then any resent copy has arrived too.
    await w.member.say(w.room, "After the restart", thread=root["event_id"])
    await w.until(lambda: any("After the restart" in m["content"]
                              for m in w.discord_mirrors(thread["id"])))
    texts = [m["content"] for m in w.discord_mirrors(thread["id"])]
    assert sum("While it was down" in t for t in texts) == 1
    assert sum("Before the restart" in t for t in texts) == 1
    assert len(await w.matrix_events(_ghost_events(w, "Also while down"))) == 1
    assert len([m for m in w.telegram_bot_messages() if "While it was down" in m.get("text", "")]) == 1


async def _put_transaction(w: MatrixWorld, txn_id: str, events: list[dict]) -> int:
    s = w.synapse.appservice
    async with aiohttp.ClientSession() as http, http.put(
        f"http://{s.listen}:{s.port}/_matrix/app/v1/transactions/{txn_id}", json={"events": events},
        headers={"Authorization": f"Bearer {s.hs_token.get_secret_value()}"},
    ) as response:
        return response.status


async def test_a_resent_transaction_is_recorded_once_and_a_failed_one_is_not_acknowledged(
        matrix_world: MatrixWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    w = matrix_world
    root = await open_topic(w)
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    event = {
        "type": "m.room.message", "room_id": w.room, "sender": w.member.user_id,
        "event_id": "$resent-event", "origin_server_ts": 1_700_000_000_000,
        "content": {"msgtype": "m.text", "body": "Sent twice by the homeserver",
                    "m.relates_to": {"rel_type": "m.thread", "event_id": root["event_id"]}},
    }
    assert runtime_ok(w)
    # The store fails while the post is committed: the homeserver is told to send it again,
    # at once when the failure is not the database's (SQLite), after the adapter's patience
    # when it is (PostgreSQL counts OSError as the server being unreachable).
    w.runtime.adapters["matrix"].patience = 0.5  # type: ignore[attr-defined]
    store = w.runtime.store
    original = store.queue_post  # where the core hands a post to the store's writer

    def broken(*args, **kwargs):
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(OSError("disk full"))
        return failed

    monkeypatch.setattr(store, "queue_post", broken)
    assert await _put_transaction(w, "txn-1", [event]) == 500
    monkeypatch.setattr(store, "queue_post", original)
    assert await _put_transaction(w, "txn-1", [event]) == 200
    assert await _put_transaction(w, "txn-1", [event]) == 200  # our answer was lost: again
    assert await _put_transaction(w, "txn-2", [event]) == 200  # same event, another txn
    await w.until(lambda: w.discord_mirrors(thread["id"]))
    await w.runtime.drain()
    assert [m["content"].count("Sent twice") for m in w.discord_mirrors(thread["id"])] == [1]
    assert "txn-1" in json.loads(await store.cursor("matrix.transactions"))
    assert await _put_transaction(w, "txn-3", []) == 200
    # A transaction with the wrong token is refused.
    s = w.synapse.appservice
    async with aiohttp.ClientSession() as http, http.put(
        f"http://{s.listen}:{s.port}/_matrix/app/v1/transactions/txn-4", json={"events": []},
        headers={"Authorization": "Bearer wrong"},
    ) as response:
        assert response.status == 403


def runtime_ok(w: MatrixWorld) -> bool:
    return w.runtime is not None


async def test_a_delivery_sent_again_after_a_crash_is_shown_once(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    adapter = w.runtime.adapters["matrix"]
    topic = await w.runtime.store.topic(1)
    delivery = Delivery(id=987654, action=Action.NOTICE, topic=topic, notice="Digest of the week",
                        target=ChannelRef("matrix", w.room, root["event_id"]))
    first = await adapter.deliver(delivery)
    again = await adapter.deliver(delivery)  # the outbox row was not marked done: sent again
    assert first.message_ids == again.message_ids
    shown = await w.matrix_events(lambda e: "Digest of the week" in e["content"].get("body", ""))
    assert len(shown) == 1


async def test_an_encrypted_room_is_refused_clearly(matrix_world: MatrixWorld,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    w = matrix_world
    await w.stop()
    secret = str(await w.moderator.client.create_room(
        name="Secret", invitees=[w.synapse.appservice.bot_user_id],
        initial_state=[{"type": "m.room.encryption", "state_key": "",
                        "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]))
    w.room = secret
    with caplog.at_level(logging.ERROR, logger="bridgebot.adapters.matrix.adapter"):
        await w.start()
    assert f"matrix room {secret} is end-to-end encrypted" in caplog.text
    w.tg.user_sends(w.group["id"], w.kristin, "/newtopic Engaging allies\nShare your examples.")
    dead = await w.until(lambda: _dead(w))
    assert any("end-to-end encrypted" in (d.last_error or "") for d in dead)
    # Nothing readable was written into the encrypted room.
    page = await w.moderator.events(RoomID(secret))
    assert not [e for e in page if e["sender"] == w.synapse.appservice.bot_user_id
                and e["type"] == "m.room.message"]


async def _dead(w: MatrixWorld) -> list:
    return [e for e in await w.runtime.store.outbox() if e.state.value == "dead"]


async def test_catch_up_reads_the_room_from_the_last_known_event(matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    await w.member.say(w.room, "Known before", thread=root["event_id"])
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    await w.until(lambda: w.discord_mirrors(thread["id"]))
    adapter = w.runtime.adapters["matrix"]
    service = adapter.service
    handle = service._on_transaction

    async def unreachable(txn_id: str, events: list) -> None:
        raise ConnectionError("the appservice is down")  # the homeserver backs off and retries

    service._on_transaction = unreachable
    missed = await w.member.say(w.room, "Missed while down", thread=root["event_id"])
    await adapter.catch_up()  # what start() does after downtime
    store = w.runtime.store
    hit = await store.resolve_message("matrix", w.room, missed)
    assert hit is not None and hit.post_id is not None  # taken from the room, not a transaction
    service._on_transaction = handle  # the homeserver's retry now arrives: recorded once
    await w.member.say(w.room, "Later", thread=root["event_id"])
    await w.until(lambda: any("Later" in m["content"] for m in w.discord_mirrors(thread["id"])),
                  timeout=60)
    texts = [m["content"] for m in w.discord_mirrors(thread["id"])]
    assert sum("Missed while down" in t for t in texts) == 1


async def test_a_command_event_brought_again_after_a_crash_is_not_run_twice(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    command = {
        "type": "m.room.message", "room_id": w.room, "sender": w.moderator.user_id,
        "event_id": "$newtopic-once", "origin_server_ts": 1_700_000_000_000,
        "content": {"msgtype": "m.text", "body": "!newtopic Safety plans\nHow do you keep "
                    "sources safe?"},
    }
    assert await _put_transaction(w, "cmd-1", [command]) == 200
    await w.until(lambda: [m for m in w.telegram_bot_messages()
                           if m.get("text", "").startswith("Safety plans")])
    # A crash before the transaction's record: after the restart the homeserver sends the
    # event again (in a transaction the bot has no record of).
    await w.stop()
    await w.start()
    assert await _put_transaction(w, "cmd-1-again", [command]) == 200
    await w.runtime.drain()
    topics = await w.runtime.store.topics()
    assert [t.title for t in topics] == ["Safety plans"]
    shown = [m for m in w.telegram_bot_messages() if m.get("text", "").startswith("Safety plans")]
    assert len(shown) == 1
