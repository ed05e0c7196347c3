"""Faults on the real platforms' wire: 429 storms, 5xx, vanished chats, gateway RESUME."""

from __future__ import annotations


async def test_a_429_storm_is_waited_out_and_posts_arrive_once_in_order(bridged):
    w = bridged
    w.tg.fail_next("sendMessage", retry_after=1, times=2)
    for i in range(3):
        w.dc.user_sends(w.thread["id"], w.jessica.dc, f"Discord reply {i}")
    mirrors = await w.until(lambda: len(w.telegram_mirrors()) >= 3 and w.telegram_mirrors())
    texts = [m["text"] for m in mirrors]
    assert [t.split("\n")[-1] for t in texts] == [f"Discord reply {i}" for i in range(3)]
    assert w.runtime.metrics.rate_limited == 2
    assert [c.status for c in w.tg.calls_to("sendMessage")].count(429) == 2


async def test_server_errors_are_retried_with_backoff(bridged):
    w = bridged
    w.tg.fail_next("sendMessage", error_code=500, times=2)
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "Through the storm")
    mirrors = await w.until(lambda: w.telegram_mirrors())
    assert mirrors[-1]["text"].endswith("Through the storm")
    assert w.runtime.metrics.retried == 2
    outbox = await w.runtime.store.outbox()
    assert all(e.state.value == "done" for e in outbox)


async def test_a_channel_that_disappears_is_dead_lettered_and_telegram_carries_on(bridged):
    w = bridged
    w.dc.delete_channel(w.thread["id"])
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Is anyone on Discord?",
                    reply_to=w.root["message_id"])
    dead = await w.dead_letters()
    assert "Unknown Channel" in dead[0].last_error or "10003" in dead[0].last_error
    w.tg.user_sends(w.group["id"], w.brittany.tg, "/status")
    answer = await w.until(lambda: [m for m in w.tg.chat_messages(w.group["id"])
                                    if "posts /" in m.get("text", "")])
    assert "1 delivery failed for good" not in answer[0]["text"]  # Brittany is no facilitator
    assert "2 posts" in answer[0]["text"]


async def test_messages_sent_while_the_gateway_was_down_are_replayed_once_on_resume(bridged):
    w = bridged
    await w.dc.disconnect_gateway(code=4000)
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "Written during the outage")
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "And another one")
    mirrors = await w.until(lambda: len(w.telegram_mirrors()) >= 2 and w.telegram_mirrors())
    assert w.dc.stats.resumes >= 1
    # Reading the thread's history again (as after a restart) records nothing twice.
    await w.runtime.adapters["discord"].catch_up()
    await w.runtime.drain()
    posts = await w.runtime.store.posts(1)
    assert [p.text for p in posts[1:]] == ["Written during the outage", "And another one"]
    assert len(w.telegram_mirrors()) == 2 == len(mirrors)


async def test_a_reply_whose_parent_has_no_mirror_quotes_it(bridged):
    w = bridged
    # Brittany's post never reaches Discord (the delivery fails for good) ...
    w.dc.fail_next("POST", r"/webhooks/", 403, {"message": "Missing Access", "code": 50001})
    original = w.tg.user_sends(w.group["id"], w.brittany.tg, "Engaging youth\n\nAn example from Kenya.",
                               reply_to=w.root["message_id"])
    await w.dead_letters()
    # ... so a Telegram reply to it reaches Discord with a quoted pointer to post #2.
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Adding to my own example",
                    reply_to=original["message_id"])
    mirrored = await w.until(lambda: w.discord_mirrors())
    assert mirrored[-1]["content"].startswith("> ↪ Brittany Landorf (#2): Engaging youth")
