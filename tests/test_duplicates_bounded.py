"""Duplicates are bounded and tracked (issue 13): a Telegram send that answers late is not
sent again while the platform may still answer; one that goes unanswered is sent again at
most once, and counted."""

from __future__ import annotations

import asyncio


def copies(w, text: str) -> list[dict]:
    return [m for m in w.tg.chat_messages(w.group["id"]) if m.get("from", {}).get("is_bot")
            and m.get("text", "").endswith(text)]


async def test_a_send_answered_after_five_seconds_is_sent_once(bridged):
    w = bridged
    # python-telegram-bot's default read timeout is 5 s; the adapter waits longer.
    w.tg.answer_slowly("sendMessage", 6.0)
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "Slow but once")
    await w.until(lambda: copies(w, "Slow but once"), timeout=20)
    await w.runtime.drain(timeout=20)
    assert len(copies(w, "Slow but once")) == 1
    assert w.runtime.metrics.maybe_duplicated == 0


async def test_an_unanswered_send_is_sent_again_once_and_counted(bridged):
    w = bridged
    w.runtime.adapters["telegram"].send_timeout = 0.5
    w.tg.answer_slowly("sendMessage", 1.5, times=3)
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "Possibly twice")
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "Behind it")
    await w.dead_letters(timeout=20)
    await w.until(lambda: copies(w, "Behind it"), timeout=20)
    await asyncio.sleep(1.6)  # every slow answer is in
    assert len(copies(w, "Possibly twice")) == 2  # the one untracked copy ...
    assert w.runtime.metrics.maybe_duplicated >= 1  # ... is counted
    dead = [e for e in await w.runtime.store.outbox() if e.state.value == "dead"]
    assert len(dead) == 1 and "not sent again" in dead[0].last_error
