"""Each kind of file issue 14 names crosses as what it is: a Telegram document as an upload
on Discord, an animated sticker as its emoji; Discord audio, video and GIF attachments as
Telegram audio, video and animation; the photo Telegram offers is the largest a bot may
fetch, and one over Telegram's 10 MB for photos goes as a document. A Spanish-speaking
author whose file is too large is told so in Spanish."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
from telegram import Chat, Message, PhotoSize

from bridgebot.adapters.telegram import media
from bridgebot.core.attachments import MB
from bridgebot.core.models import Attachment
from tests.auxil.world import World

from .images import png


def _tg_files(w: World, kind: str) -> list[dict[str, Any]]:
    assert w.tg is not None
    return [m for m in w.tg.chat_messages(w.group["id"]) if m.get("from", {}).get("is_bot")
            and kind in m]


async def test_a_telegram_document_arrives_on_discord_as_an_upload_with_its_name(bridged: World):
    w = bridged
    report = b"%PDF-1.4\n% the annual report\n" + b"r" * 3000
    w.tg.user_sends_document(w.group["id"], w.jessica.tg, "annual report.pdf", data=report,
                             caption="Our annual report", reply_to=w.root["message_id"])
    mirror = (await w.until(w.discord_mirrors))[0]
    assert "Our annual report" in mirror["content"] and "[document" not in mirror["content"]
    [upload] = mirror["attachments"]
    assert upload["filename"] == "annual report.pdf"
    assert upload["content_type"] == "application/pdf"
    assert w.tokens["telegram"] not in str(mirror) and "/file/bot" not in str(mirror)
    async with aiohttp.ClientSession() as session, session.get(upload["url"]) as response:
        assert await response.read() == report


async def test_an_animated_telegram_sticker_arrives_on_discord_as_its_emoji(bridged: World):
    w = bridged
    w.tg.user_sends_sticker(w.group["id"], w.jessica.tg, "🎉", animated=True,
                            reply_to=w.root["message_id"])
    w.tg.user_sends_sticker(w.group["id"], w.jessica.tg, "🔥", video=True,
                            reply_to=w.root["message_id"])
    mirrors = await w.until(lambda: m if len(m := w.discord_mirrors()) >= 2 else None)
    assert ["🎉" in mirrors[0]["content"], "🔥" in mirrors[1]["content"]] == [True, True]
    assert not [m for m in mirrors if "[sticker" in m["content"] or "[attachment" in m["content"]]
    assert all(not m["attachments"] for m in mirrors)
    posts = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert [(p.text, p.attachments) for p in posts] == [("🎉", ()), ("🔥", ())]


async def test_discord_audio_video_and_gif_arrive_on_telegram_as_audio_video_and_animation(
        bridged: World):
    w = bridged
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "The song",
                    attachments=[("song.mp3", b"ID3 a song", "audio/mpeg")])
    await w.until(lambda: _tg_files(w, "audio"))
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "The march",
                    attachments=[("march.mp4", b"\x00\x00\x00 ftypmp42", "video/mp4")])
    await w.until(lambda: _tg_files(w, "video"))
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "",
                    attachments=[("dance.gif", b"GIF89a dance", "image/gif")])
    await w.until(lambda: _tg_files(w, "animation"))
    [audio], [video], [gif] = (_tg_files(w, k) for k in ("audio", "video", "animation"))
    assert audio["audio"]["file_name"] == "song.mp3" and "The song" in audio["caption"]
    assert video["video"]["file_name"] == "march.mp4" and "The march" in video["caption"]
    assert gif["animation"]["file_name"] == "dance.gif" and "Brittany" in gif["caption"]
    assert w.tg.file_data(audio["audio"]["file_id"]) == b"ID3 a song"
    assert [c.status for c in w.tg.calls_to("sendAudio") + w.tg.calls_to("sendVideo")
            + w.tg.calls_to("sendAnimation")] == [200, 200, 200]


def _photo_message(*sizes: tuple[int, int]) -> Message:
    """A Telegram photo message offering ``(side, bytes)`` sizes, smallest first."""
    photo = tuple(PhotoSize(f"id-{side}", f"u-{side}", side, side * 3 // 4, file_size=size)
                  for side, size in sizes)
    return Message(7, datetime.now(UTC), Chat(-100, "supergroup"), photo=photo)


def test_a_photo_is_fetched_at_the_largest_size_a_bot_may_download():
    found, _ = media.files_of(_photo_message((320, 40_000), (1280, 900_000), (2560, 3 * MB)))
    assert [(f.file_id, f.size) for f in found] == [("id-2560", 3 * MB)]
    huge = _photo_message((320, 40_000), (1280, 12 * MB), (5120, 24 * MB))
    found, _ = media.files_of(huge)
    assert [(f.file_id, f.size) for f in found] == [("id-1280", 12 * MB)], \
        "the 24 MB size is over the 20 MB a bot may fetch"


def test_a_photo_over_telegrams_10_mb_for_photos_is_sent_as_a_document():
    small = Attachment("a.png", "image/png", 9 * MB, "ab" * 32, "photo")
    large = Attachment("b.png", "image/png", 11 * MB, "cd" * 32, "photo")
    assert media.method_for(small) == "photo"
    assert media.method_for(large) == "document"


async def test_a_spanish_speaking_author_is_told_in_spanish_why_her_file_did_not_cross(
        bridged: World):
    w = bridged
    lucia = w.tg.add_user("Lucía", language_code="es")
    video = b"\x00" * (21 * MB)
    w.tg.user_sends_media(w.group["id"], lucia, "video", video, file_name="marcha.mp4",
                          caption="La marcha", reply_to=w.root["message_id"])
    mirror = (await w.until(w.discord_mirrors))[0]
    assert "marcha.mp4 (video/mp4, 21.0 MB)" in mirror["content"]
    told = await w.until(lambda: [t for t in w.bot_texts() if "marcha.mp4" in t])
    assert told == ["marcha.mp4 (21.0 MB) supera los 20.0 MB que Telegram deja descargar a un "
                    "bot, así que los otros chats solo ven su nombre, tipo y tamaño."]


async def test_a_discord_photo_larger_than_telegram_takes_as_a_photo_goes_as_a_document(
        bridged: World, monkeypatch):
    from bridgebot.core.attachments import FileLimits

    w = bridged
    monkeypatch.setattr(media, "LIMITS", FileLimits(per_file=50 * MB, per_photo=100))
    image = png((10, 200, 90))
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "The poster",
                    attachments=[("poster.png", image, "image/png")])
    [sent] = await w.until(lambda: _tg_files(w, "document"))
    assert sent["document"]["file_name"] == "poster.png" and not _tg_files(w, "photo")
    assert "The poster" in sent["caption"]


async def test_a_discord_author_whose_file_telegram_cannot_take_is_told_once(
        bridged: World, monkeypatch):
    from bridgebot.core.attachments import FileLimits

    w = bridged
    small = FileLimits(per_file=1000, per_photo=1000)  # as a 60 MB file from a boosted server
    monkeypatch.setattr(media, "LIMITS", small)
    w.runtime.core.platforms.use_file_limits("telegram", lambda _chat: small)
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "Big report",
                    attachments=[("report.pdf", b"%PDF" + b"y" * 5000, "application/pdf")])
    await w.until(w.telegram_mirrors)
    await w.settle()
    told = [m for m in w.dc.channel_messages(w.thread["id"])
            if m["author"].get("bot") and "report.pdf" in m["content"]
            and "Telegram" in m["content"] and not m.get("webhook_id")]
    assert len(told) == 1, told
    assert "5 KB" in told[0]["content"]


async def test_a_captions_first_line_is_the_posts_subject_as_a_texts_is(bridged: World):
    w = bridged
    w.tg.user_sends_document(w.group["id"], w.jessica.tg, "agenda.pdf", data=b"%PDF agenda",
                             caption="Open day agenda\n\nWe start at ten.",
                             reply_to=w.root["message_id"])
    mirror = (await w.until(w.discord_mirrors))[0]
    [post] = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert (post.subject, post.text) == ("Open day agenda", "We start at ten.")
    assert "Open day agenda" in mirror["content"] and "We start at ten." in mirror["content"]
    assert [a["filename"] for a in mirror["attachments"]] == ["agenda.pdf"]
