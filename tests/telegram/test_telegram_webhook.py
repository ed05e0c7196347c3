"""Webhook mode: only requests carrying the secret token are processed."""

from __future__ import annotations

import socket

import aiohttp

from bridgebot.adapters.telegram.settings import WebhookSettings

from ..conftest import Build


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_an_update_without_the_secret_is_refused_and_one_with_it_processed(build: Build):
    port = free_port()
    webhook = WebhookSettings(listen="127.0.0.1", port=port,
                              public_url=f"http://127.0.0.1:{port}/telegram",
                              secret_token="s3cret-token_value")
    w = await build(discord=(), telegram_options={"mode": "webhook", "webhook": webhook})
    tg, runtime, chat, kristin = w.tg, w.runtime, w.group, w.kristin.tg
    assert tg is not None
    assert tg.webhook_info()["url"] == f"http://127.0.0.1:{port}/telegram"
    forged = {"update_id": 999, "message": {
        "message_id": 50, "date": 1, "chat": {"id": chat["id"], "type": "supergroup"},
        "from": {"id": kristin["id"], "is_bot": False, "first_name": "Mallory"},
        "text": "/newtopic Forged topic",
        "entities": [{"type": "bot_command", "offset": 0, "length": 9}]}}
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with http.post(f"http://127.0.0.1:{port}/telegram", json=forged,
                                 headers=headers) as response:
                assert response.status == 403
    assert await runtime.store.topics() == []
    # The real Bot API pushes with the secret: that update is processed.
    sent = tg.user_sends(chat["id"], kristin, "/newtopic Engaging allies")
    await tg.wait_for(lambda: any(
        d.status == 200 and d.secret_token == "s3cret-token_value"
        for d in tg.webhook_deliveries if d.update_id >= 0
    ) and not tg.pending_updates())
    assert sent["text"] == "/newtopic Engaging allies"
    await runtime.drain()
    assert [t.title for t in await runtime.store.topics()] == ["Engaging allies"]
    assert [d.status for d in tg.webhook_deliveries] == [200] * len(tg.webhook_deliveries)
