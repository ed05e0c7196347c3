"""A post with files is never cut: its file message carries what fits (a Telegram caption's
1024, a Discord message's 2000) and the rest follows as continuation messages, as a long
text post's pieces do; an edit grows or shrinks the continuations, never the files."""

from __future__ import annotations

from typing import Any

import pytest

from bridgebot.core.models import DeliveryState
from bridgebot.sandbox.discord import Permissions
from tests.auxil.world import World

from .images import png


def words(count: int, tag: str) -> str:
    """``count`` distinct words (each findable in a copy), about 7 characters each."""
    return " ".join(f"{tag}{i:04d}" for i in range(count))


def missing(text: str, shown: str) -> list[str]:
    return [word for word in text.split() if word not in shown.split()]


def tg_bot_messages(w: World) -> list[dict[str, Any]]:
    return [m for m in w.tg.chat_messages(w.group["id"]) if m.get("from", {}).get("is_bot")]


def tg_copy(w: World, first_id: int) -> list[dict[str, Any]]:
    """The file message and the bot messages that continue it (each answering the one
    before), in order."""
    by_id = {m["message_id"]: m for m in tg_bot_messages(w)}
    chain = [by_id[first_id]] if first_id in by_id else []
    while chain:
        after = [m for m in by_id.values()
                 if m.get("reply_to_message", {}).get("message_id") == chain[-1]["message_id"]
                 and "text" in m]
        if not after:
            break
        chain.append(after[0])
    return chain


def tg_shown(chain: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("caption", m.get("text", "")) for m in chain)


async def test_a_discord_pdf_with_1800_characters_arrives_on_telegram_whole(bridged: World):
    w = bridged
    text = words(225, "pdf")  # 1799 characters
    w.dc.user_sends(w.thread["id"], w.brittany.dc, text,
                    attachments=[("agenda.pdf", b"%PDF-1.4 agenda", "application/pdf")])
    document = (await w.until(lambda: [m for m in tg_bot_messages(w) if "document" in m]))[0]
    chain = await w.until(lambda: c if len(c := tg_copy(w, document["message_id"])) >= 2 else None)
    await w.settle()
    assert len(document["caption"]) <= 1024 and document["document"]["file_name"] == "agenda.pdf"
    assert missing(text, tg_shown(chain)) == []
    assert len(chain) == 2 and "…" not in tg_shown(chain)
    assert not await w.runtime.store.outbox([DeliveryState.DEAD])


@pytest.mark.parametrize("photos", [1, 2])  # one upload, or a media group
async def test_a_captioned_photo_edited_to_3000_characters_and_back_on_telegram(
        bridged: World, photos: int):
    w = bridged
    short, long_ = words(37, "s"), words(375, "l")  # 300 and 3000 characters
    w.dc.give_nitro(w.brittany.dc)  # Discord lets her write 4000
    sent = w.dc.user_sends(w.thread["id"], w.brittany.dc, short, attachments=[
        (f"stall{i}.png", png((200, 10, i)), "image/png") for i in range(photos)])
    group = await w.until(lambda: p if len(p := [m for m in tg_bot_messages(w)
                                                 if "photo" in m]) == photos else None)
    photo = group[0]  # a media group's caption is on its first item
    assert missing(short, photo["caption"]) == []
    assert all("caption" not in m for m in group[1:])
    w.dc.user_edits(w.thread["id"], sent["id"], long_)
    last = group[-1]["message_id"]  # the continuation follows the files

    def shown() -> str:
        caption = tg_copy(w, photo["message_id"])[0]["caption"]
        return tg_shown([{"caption": caption}, *tg_copy(w, last)[1:]])

    await w.until(lambda: missing(long_, shown()) == [])
    chain = tg_copy(w, last)
    assert len(chain) == 2 and len(tg_copy(w, photo["message_id"])[0]["caption"]) <= 1024
    continuation = chain[1]["message_id"]
    w.dc.user_edits(w.thread["id"], sent["id"], short)
    await w.until(lambda: continuation not in {m["message_id"] for m in tg_bot_messages(w)})
    await w.settle()
    assert len(tg_copy(w, last)) == 1
    caption = tg_copy(w, photo["message_id"])[0]["caption"]
    assert missing(short, caption) == [] and "l0001" not in caption
    assert len([m for m in tg_bot_messages(w) if "photo" in m]) == photos
    assert not await w.runtime.store.outbox([DeliveryState.DEAD])


async def test_a_captioned_photo_edited_to_3000_characters_and_back_on_discord(bridged: World):
    w = bridged
    short, long_ = words(37, "s"), words(375, "l")  # Premium captions may be 4096 long
    sent = w.tg.user_sends_photo(w.group["id"], w.jessica.tg, short, data=png((9, 90, 9)),
                                 reply_to=w.root["message_id"])
    [mirror] = await w.until(w.discord_mirrors)
    assert len(mirror["attachments"]) == 1 and missing(short, mirror["content"]) == []
    w.tg.user_edits(w.group["id"], sent["message_id"], long_)
    def shows_all() -> list[dict[str, Any]] | None:
        mirrors = w.discord_mirrors()
        return mirrors if missing(long_, "\n".join(m["content"] for m in mirrors)) == [] else None

    mirrors = await w.until(shows_all)
    assert len(mirrors) == 2 and mirrors[0]["id"] == mirror["id"]
    assert len(mirrors[0]["attachments"]) == 1 and not mirrors[1]["attachments"]
    assert all(len(m["content"]) <= 2000 for m in mirrors)
    w.tg.user_edits(w.group["id"], sent["message_id"], short)
    await w.until(lambda: len(w.discord_mirrors()) == 1)
    await w.settle()
    [mirror] = w.discord_mirrors()
    assert len(mirror["attachments"]) == 1 and missing(short, mirror["content"]) == []
    assert "l0001" not in mirror["content"]
    assert not await w.runtime.store.outbox([DeliveryState.DEAD])


async def test_without_webhooks_a_captioned_photo_grows_and_shrinks_in_bot_messages(
        bridged: World):
    w = bridged
    w.runtime.adapters["discord"]._webhooks.clear()
    w.dc.set_bot_permissions(
        w.guild["id"], Permissions.ALL & ~Permissions.MANAGE_WEBHOOKS & ~Permissions.ADMINISTRATOR)
    short, long_ = words(37, "s"), words(375, "l")  # Premium captions may be 4096 long
    sent = w.tg.user_sends_photo(w.group["id"], w.jessica.tg, short, data=png((1, 99, 1)),
                                 reply_to=w.root["message_id"])

    def copy(text: str) -> list[dict[str, Any]] | None:
        ours = [m for m in w.dc.channel_messages(w.thread["id"]) if m["author"].get("bot")
                and (m.get("attachments") or " l0" in m["content"] or " s0" in m["content"])]
        return ours if missing(text, "\n".join(m["content"] for m in ours)) == [] else None

    [photo] = await w.until(lambda: copy(short))
    assert len(photo["attachments"]) == 1 and photo["content"].startswith("**Jessica")
    w.tg.user_edits(w.group["id"], sent["message_id"], long_)
    grown = await w.until(lambda: copy(long_))
    assert grown[0]["id"] == photo["id"] and len(grown) == 2
    assert len(grown[0]["attachments"]) == 1 and not grown[1]["attachments"]
    assert all(m.get("webhook_id") is None for m in grown)
    w.tg.user_edits(w.group["id"], sent["message_id"], short)
    await w.until(lambda: (c := copy(short)) is not None and len(c) == 1)
    [shrunk] = copy(short) or []
    assert shrunk["id"] == photo["id"] and len(shrunk["attachments"]) == 1


async def test_a_caption_telegram_cannot_parse_is_sent_again_as_plain_text(bridged: World):
    w = bridged
    w.tg.fail_next("sendDocument", 400, "Bad Request: can't parse entities: unexpected end tag")
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "The **minutes** of <Tuesday>",
                    attachments=[("minutes.pdf", b"%PDF-1.4 minutes", "application/pdf")])
    document = (await w.until(lambda: [m for m in tg_bot_messages(w) if "document" in m]))[0]
    assert document["caption"].endswith("The minutes of <Tuesday>")
    calls = w.tg.calls_to("sendDocument")
    assert [c.status for c in calls] == [400, 200] and "parse_mode" not in calls[-1].params
    assert not await w.runtime.store.outbox([DeliveryState.DEAD])
