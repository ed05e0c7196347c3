"""Photos and files cross as files, both ways, under their author's name, with the post's
text as caption; what cannot cross becomes a line naming it, and its author is told why."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bridgebot.core.models import ChannelRef
from tests.auxil.world import World

from .images import GPS_IFD, jpeg_with_gps, metadata_of, png


async def _download(url: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200, url
        return await response.read()


def _tg_files(w: World, kind: str) -> list[dict[str, Any]]:
    assert w.tg is not None
    return [m for m in w.tg.chat_messages(w.group["id"]) if m.get("from", {}).get("is_bot")
            and kind in m]


async def test_a_telegram_photo_with_caption_arrives_on_discord_as_an_upload_under_her_name(
        bridged: World):
    w = bridged
    photo = jpeg_with_gps()
    w.tg.user_sends_photo(w.group["id"], w.jessica.tg, "Our open day", data=photo,
                          reply_to=w.root["message_id"])
    mirror = (await w.until(w.discord_mirrors))[0]
    assert mirror["author"]["username"].startswith("Jessica")
    assert "Our open day" in mirror["content"] and "[photo]" not in mirror["content"]
    [upload] = mirror["attachments"]
    assert upload["content_type"] == "image/jpeg" and upload["filename"].endswith(".jpg")
    received = await _download(upload["url"])
    assert GPS_IFD not in metadata_of(received), "the GPS position crossed"
    [post] = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert post.text == "Our open day"
    [stored] = post.attachments
    path = w.runtime.core.files.path(stored)
    assert path is not None and path.read_bytes() == received
    assert metadata_of(path.read_bytes()) == {} or GPS_IFD not in metadata_of(path.read_bytes())


async def test_a_discord_file_sent_without_words_is_a_post_and_crosses(bridged: World):
    w = bridged
    pdf = b"%PDF-1.4\n% the agenda\n" + b"x" * 500
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "",
                    attachments=[("agenda.pdf", pdf, "application/pdf")])
    [sent] = await w.until(lambda: _tg_files(w, "document"))
    assert sent["document"]["file_name"] == "agenda.pdf"
    assert w.tg.file_data(sent["document"]["file_id"]) == pdf
    assert not [m for m in w.dc.channel_messages(w.thread["id"])
                if "empty" in str(m.get("content", "")).lower()], "refused as an empty message"


async def test_a_discord_pdf_arrives_on_telegram_as_a_document(bridged: World):
    w = bridged
    pdf = b"%PDF-1.4\n% notes from the workshop\n" + b"x" * 2000
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "The notes from Tuesday",
                    attachments=[("notes.pdf", pdf, "application/pdf")])
    [sent] = await w.until(lambda: _tg_files(w, "document"))
    assert sent["document"]["file_name"] == "notes.pdf"
    assert "The notes from Tuesday" in sent["caption"] and "Brittany" in sent["caption"]
    call = w.tg.calls_to("sendDocument")[-1]
    assert call.status == 200 and "http" not in str(call.params.get("document"))
    assert w.tg.file_data(sent["document"]["file_id"]) == pdf


async def test_an_album_of_three_photos_is_one_post_and_one_message(bridged: World):
    w = bridged
    photos = [png((i * 80, 100, 50)) for i in range(3)]
    w.tg.user_sends_album(w.group["id"], w.jessica.tg, photos, "Three moments",
                          reply_to=w.root["message_id"])
    mirror = (await w.until(w.discord_mirrors))[0]
    await w.settle()
    assert len(w.discord_mirrors()) == 1
    assert len(mirror["attachments"]) == 3 and "Three moments" in mirror["content"]
    posts = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert len(posts) == 1 and len(posts[0].attachments) == 3


async def test_several_discord_images_arrive_on_telegram_as_one_album(bridged: World):
    w = bridged
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "Before and after",
                    attachments=[("before.png", png((1, 2, 3)), "image/png"),
                                 ("after.png", png((3, 2, 1)), "image/png")])
    photos = await w.until(lambda: [m for m in _tg_files(w, "photo")] if len(
        _tg_files(w, "photo")) == 2 else None)
    assert photos[0]["media_group_id"] == photos[1]["media_group_id"]
    assert "Before and after" in photos[0]["caption"]


async def test_a_30_mb_video_becomes_a_line_and_its_author_is_told(bridged: World):
    w = bridged
    video = b"\x00" * (30 * 1000 * 1000)
    w.tg.user_sends_media(w.group["id"], w.jessica.tg, "video", video, file_name="march.mp4",
                          caption="The march", reply_to=w.root["message_id"])
    mirror = (await w.until(w.discord_mirrors))[0]
    assert "The march" in mirror["content"]
    assert "march.mp4" in mirror["content"] and "video/mp4" in mirror["content"]
    assert "30.0 MB" in mirror["content"] and not mirror["attachments"]
    told = await w.until(lambda: [t for t in w.bot_texts() if "march.mp4" in t])
    assert len(told) == 1 and "20" in told[0]


async def test_a_discord_file_too_large_for_telegram_becomes_a_line(bridged: World, monkeypatch):
    from bridgebot.adapters.telegram import media
    from bridgebot.core.attachments import FileLimits

    w = bridged
    monkeypatch.setattr(media, "LIMITS", FileLimits(per_file=1000, per_photo=1000))
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "Big report",
                    attachments=[("report.pdf", b"%PDF" + b"y" * 5000, "application/pdf")])
    [mirror] = await w.until(w.telegram_mirrors)
    assert "report.pdf (application/pdf, 5 KB)" in mirror["text"]
    assert not _tg_files(w, "document")


async def test_a_15_mb_telegram_video_is_a_line_on_discord_and_its_author_is_told_once(
        bridged: World):
    w = bridged
    video = b"\x01" * (15 * 1000 * 1000)
    w.tg.user_sends_media(w.group["id"], w.jessica.tg, "video", video, file_name="rally.mp4",
                          caption="The rally", reply_to=w.root["message_id"])
    mirror = (await w.until(w.discord_mirrors))[0]
    assert "rally.mp4 (video/mp4, 15.0 MB)" in mirror["content"] and not mirror["attachments"]
    told = await w.until(lambda: [t for t in w.bot_texts() if "rally.mp4" in t])
    assert len(told) == 1 and "Discord" in told[0]
    [post] = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert post.attachments[0].stored, "the archive keeps it all the same"


async def test_voice_audio_animation_video_note_and_sticker_arrive_on_discord_as_files(
        bridged: World):
    w = bridged
    group, jessica, root = w.group["id"], w.jessica.tg, w.root["message_id"]
    w.tg.user_sends_voice(group, jessica, data=b"OggS voice", caption="Listen", reply_to=root)
    w.tg.user_sends_media(group, jessica, "audio", b"ID3 song", file_name="song.mp3",
                          reply_to=root)
    w.tg.user_sends_media(group, jessica, "animation", b"\x00anim", file_name="dance.mp4",
                          reply_to=root)
    w.tg.user_sends_media(group, jessica, "video_note", b"\x00round", reply_to=root)
    w.tg.user_sends_sticker(group, jessica, "👍", reply_to=root)
    mirrors = await w.until(lambda: m if len(m := w.discord_mirrors()) >= 5 else None)
    uploads = [[a["filename"] for a in m["attachments"]] for m in mirrors]
    assert all(len(names) == 1 for names in uploads), uploads
    names = [n[0] for n in uploads]
    assert names[1:3] == ["song.mp3", "dance.mp4"] and names[0].endswith(".ogg")
    assert names[3].endswith(".mp4") and names[4].endswith(".webp")
    assert "Listen" in mirrors[0]["content"]
    kinds = [p.attachments[0].kind for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert kinds == ["voice", "audio", "animation", "video_note", "sticker"]


async def test_an_album_whose_items_arrive_in_separate_batches_is_still_one_post(bridged: World):
    w = bridged
    w.tg.user_sends_photo(w.group["id"], w.jessica.tg, "Two moments", data=png((9, 9, 9)),
                          reply_to=w.root["message_id"], media_group_id="9001")
    await asyncio.sleep(0.3)  # the bot's long poll has returned with the first item alone
    w.tg.user_sends_photo(w.group["id"], w.jessica.tg, data=png((8, 8, 8)),
                          reply_to=w.root["message_id"], media_group_id="9001")
    mirror = (await w.until(w.discord_mirrors))[0]
    await w.settle()
    assert len(w.discord_mirrors()) == 1 and len(mirror["attachments"]) == 2


async def test_a_discord_sticker_arrives_on_telegram_as_a_photo_and_a_lottie_one_as_its_name(
        bridged: World):
    w = bridged
    image = png((240, 200, 30))
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "", stickers=[("Thumbs up", image, 1)])
    [sent] = await w.until(lambda: _tg_files(w, "photo"))
    assert "[sticker" not in sent.get("caption", "") and "Brittany" in sent["caption"]
    assert w.tg.calls_to("sendPhoto")[-1].status == 200
    [post] = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert [(a.kind, a.mime_type) for a in post.attachments] == [("photo", "image/png")]
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "", stickers=[("Dancing", b"{}", 3)])
    lottie = await w.until(lambda: [m for m in w.telegram_mirrors() if "[sticker" in m["text"]])
    assert lottie[0]["text"].endswith("[sticker Dancing]")


async def test_a_file_too_large_for_telegram_links_to_its_archive_copy_when_the_archive_is_public(
        bridged: World, monkeypatch):
    from bridgebot.adapters.telegram import media
    from bridgebot.core.attachments import FileLimits
    from bridgebot.web.archive import ArchiveServer

    w = bridged
    server = ArchiveServer(w.runtime.store, refresh_seconds=60, files=w.runtime.core.files)
    port = await server.start(port=0)
    try:
        w.runtime.core.archive_url = f"http://127.0.0.1:{port}"  # the `archive_url` setting
        monkeypatch.setattr(media, "LIMITS", FileLimits(per_file=1000, per_photo=1000))
        report = b"%PDF" + b"z" * 5000
        w.dc.user_sends(w.thread["id"], w.brittany.dc, "Big report",
                        attachments=[("report.pdf", report, "application/pdf")])
        [mirror] = await w.until(w.telegram_mirrors)
        line = next(x for x in mirror["text"].splitlines() if "report.pdf" in x)
        url = line.rsplit(" ", 1)[-1]
        assert url.startswith(f"http://127.0.0.1:{port}/topics/1/files/")
        assert await _download(url) == report, "the link opens the archive's copy"
    finally:
        await server.stop()


def test_the_archive_url_must_be_a_web_address(tmp_path, monkeypatch):
    import pytest

    from bridgebot.settings import ConfigError, load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGEBOT_ARCHIVE_URL", "https://archive.example.org/allies")
    assert load_settings().archive_url == "https://archive.example.org/allies"
    monkeypatch.setenv("BRIDGEBOT_ARCHIVE_URL", "archive.example.org")
    with pytest.raises(ConfigError, match="BRIDGEBOT_ARCHIVE_URL"):
        load_settings()


async def test_a_15_mb_telegram_video_crosses_to_a_boosted_discord_server_as_a_file(
        bridged: World):
    w = bridged
    w.dc.set_premium_tier(w.guild["id"], 2)  # 50 MiB uploads
    channel = ChannelRef("discord", w.channel["id"])
    await w.until(lambda: w.runtime.core.platforms.file_limits(channel).per_file > 10 * 2**20)
    video = b"\x01" * (15 * 1000 * 1000)
    w.tg.user_sends_media(w.group["id"], w.jessica.tg, "video", video, file_name="rally.mp4",
                          caption="The rally", reply_to=w.root["message_id"])
    mirror = (await w.until(w.discord_mirrors))[0]
    assert [a["filename"] for a in mirror["attachments"]] == ["rally.mp4"]
    assert "15.0 MB" not in mirror["content"]
    assert not [t for t in w.bot_texts() if "rally.mp4" in t], "no one is told it won't cross"
