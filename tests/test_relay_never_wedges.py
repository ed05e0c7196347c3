"""The relay never wedges: any content reaches every target in pieces that fit, or is
dead-lettered with its reason, and later rows still go out (issue 13)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from bridgebot.core import errors
from bridgebot.core.models import Action, Author, ChannelRef, IncomingMessage
from bridgebot.core.text import split_text, utf16_len

EMOJI = "\U0001f600"


async def nitro_post(w, message_id: str, text: str, reply_to: str | None = None) -> None:
    """A Discord post as the adapter hands it over, up to Nitro's 4000 characters (the
    sandbox's members send at most 2000)."""
    await w.runtime.core.receive(IncomingMessage(
        where=ChannelRef("discord", w.channel["id"], w.thread["id"]), message_id=message_id,
        author=Author("discord", w.jessica.dc["user"]["id"] if "user" in w.jessica.dc else w.jessica.dc["id"],
                      "Jessica"),
        text=text, sent_at=datetime.now(UTC), reply_to_message_id=reply_to,
    ))


def telegram_mirror_texts(w) -> list[str]:
    return [m["text"] for m in w.tg.chat_messages(w.group["id"])
            if m.get("from", {}).get("is_bot") and m.get("text")]


async def test_an_emoji_post_reaches_telegram_in_pieces_counted_in_utf16(bridged):
    w = bridged
    # 4000 emoji (Discord's Nitro limit): 4000 code points, 8000 UTF-16 code units.
    await nitro_post(w, "900000000000000001", EMOJI * 4000)
    pieces = await w.until(lambda: (got := [t for t in telegram_mirror_texts(w) if EMOJI in t])
                           and sum(t.count(EMOJI) for t in got) >= 4000 and got)
    assert sum(t.count(EMOJI) for t in pieces) == 4000
    assert all(utf16_len(t) <= 4096 for t in pieces)
    assert not [e for e in await w.runtime.store.outbox() if e.state.value == "dead"]


async def test_a_reply_to_a_huge_unmirrored_parent_does_not_wedge_the_chat(bridged):
    w = bridged
    # The parent never reaches Telegram (refused for good) ...
    w.tg.fail_next("sendMessage", error_code=400, description="Bad Request: message is too long")
    await nitro_post(w, "900000000000000001", EMOJI * 4000)
    await w.dead_letters()
    # ... so a reply to it quotes it; the quote must be short, and later posts go on.
    await nitro_post(w, "900000000000000002", "A reply to the long one", "900000000000000001")
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "A later post")
    texts = await w.until(lambda: (got := telegram_mirror_texts(w))
                          and any(t.endswith("A later post") for t in got) and got)
    reply = next(t for t in texts if t.endswith("A reply to the long one"))
    # The quote names the parent's author as the relay finds her when it sends: "Jessica",
    # or "Jessica Okafor" once her later Discord post (under that name) was taken in first.
    assert re.search(r"↪ Jessica( Okafor)? \(#2\)", reply), reply
    assert len(reply) < 400  # a capped excerpt, not the whole parent


async def test_a_discord_quote_of_a_long_text_without_spaces_is_capped(bridged):
    w = bridged
    cjk = "参与者们在讨论中分享了经验" * 200  # 2,600 characters, no space
    original = w.tg.user_sends(w.group["id"], w.brittany.tg, cjk, reply_to=w.root["message_id"])
    await w.until(lambda: len(w.discord_mirrors()) >= 2)  # split in two on Discord
    w.tg.user_sends(w.group["id"], w.brittany.tg, "回复", reply_to=original["message_id"])
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Later", reply_to=w.root["message_id"])
    mirrors = await w.until(lambda: (m := w.discord_mirrors())
                            and any(x["content"].startswith("Later") for x in m) and m)
    reply = next(m["content"] for m in mirrors if "回复" in m["content"])
    assert reply.startswith("> ↪ Brittany Landorf ([#2](")
    assert len(reply) < 400
    assert all(len(m["content"]) <= 2000 for m in mirrors)


async def test_an_exception_while_building_a_delivery_dead_letters_it_and_later_rows_go_on(
        bridged, monkeypatch):
    w = bridged
    core = w.runtime.core
    real = core.build_delivery
    calls = 0

    async def broken(row):
        nonlocal calls
        delivery = await real(row)
        if delivery and delivery.post and delivery.post.text == "poison":
            calls += 1
            raise ValueError("limit must be positive")
        return delivery

    monkeypatch.setattr(core, "build_delivery", broken)
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "poison")
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "antidote")
    await w.until(lambda: any(t.endswith("antidote") for t in telegram_mirror_texts(w)))
    dead = await w.dead_letters()
    assert "ValueError" in dead[0].last_error and "limit must be positive" in dead[0].last_error
    assert dead[0].action is Action.POST
    await asyncio.sleep(0.3)
    assert calls == 1  # tried once, not restarted in a loop


async def test_an_unclassified_adapter_exception_becomes_a_dead_letter(bridged, monkeypatch):
    w = bridged
    adapter = w.runtime.adapters["telegram"]
    real = adapter.deliver

    async def deliver(delivery):
        if delivery.post and delivery.post.text == "boom":
            raise KeyError("message_id")
        return await real(delivery)

    monkeypatch.setattr(adapter, "deliver", deliver)
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "boom")
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "after the boom")
    await w.until(lambda: any(t.endswith("after the boom") for t in telegram_mirror_texts(w)))
    dead = await w.dead_letters()
    assert "KeyError" in dead[0].last_error


def test_split_text_never_raises_and_counts_in_the_given_unit():
    assert split_text("abc", 0) == ["a", "b", "c"]
    pieces = split_text(EMOJI * 10, 4, measure=utf16_len)
    assert pieces == [EMOJI * 2] * 5
    assert isinstance(errors.PermanentError("x"), errors.DeliveryError)
