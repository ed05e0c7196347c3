"""Files in the archive: the page shows images inline (checked in a real headless Chromium,
screenshot kept in test-artifacts/) and links other files; `bridgebot serve` serves them
with their type (non-images as downloads, nothing outside the store); markdown links them,
json lists them; anonymized exports call them attachment-N; a hidden post's files go."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.export import load_archive, to_html, to_json, to_markdown
from bridgebot.core.privacy import anonymized_archive
from bridgebot.web.archive import ArchiveServer
from tests.auxil.world import FACILITATOR, FORUM, World, person
from tests.facilitation.browser import browser

from .images import GPS_IFD, jpeg_with_gps, metadata_of

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
NADIA = person("Nadia Ali")


async def _topic_with_files(w: World) -> tuple:
    assert w.console is not None and w.runtime.core.files is not None
    files = w.runtime.core.files
    await w.command(FACILITATOR, "/newtopic Open days\nShare what you did.")
    photo = await files.put(jpeg_with_gps(size=(480, 320)), "Nadia at the march.jpg",
                            "image/jpeg", "photo")
    pdf = await files.put(b"%PDF-1.4 the notes", "notes.pdf", "application/pdf", "document")
    page = await files.put(b"<script>alert(1)</script>", "x.html", "text/html", "document")
    await w.console.say("forum", NADIA, "Our open day\n\nWe opened the office to neighbours.",
                        attachments=(photo, pdf, page))
    await w.runtime.drain()
    return photo, pdf, page


async def test_the_archive_page_shows_the_photo_inline_in_a_real_browser(rooms_world: World):
    w = rooms_world
    photo, pdf, _ = await _topic_with_files(w)
    server = ArchiveServer(w.runtime.store, refresh_seconds=60, files=w.runtime.core.files)
    port = await server.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}/topics/1/"
    try:
        async with browser() as tab:
            await tab.open(base, 900, 1400)
            for _ in range(200):  # the page is loaded; its image may still be arriving
                if await tab.js("document.images.length > 0 && [...document.images]"
                                ".every(i => i.complete && i.naturalWidth > 0)"):
                    break
                await asyncio.sleep(0.05)
            shown = await tab.js(
                "[...document.querySelectorAll('.files img')].map(i => [i.naturalWidth, i.alt])")
            assert shown == [[480, "Nadia at the march.jpg"]]
            links = await tab.js("[...document.querySelectorAll('.files a[download]')]"
                                 ".map(a => a.textContent)")
            assert links == ["notes.pdf", "x.html"]
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "archive-topic-with-photo.png"
            shot.unlink(missing_ok=True)
            await tab.screenshot(shot)
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}files/{photo.sha256[:2]}/{photo.sha256}") as got:
                assert got.status == 200 and got.headers["Content-Type"] == "image/jpeg"
                assert "Content-Disposition" not in got.headers
                assert GPS_IFD not in metadata_of(await got.read())
            async with http.get(f"{base}files/{pdf.sha256[:2]}/{pdf.sha256}") as got:
                assert got.status == 200 and got.headers["Content-Type"] == "application/pdf"
                assert got.headers["Content-Disposition"].startswith("attachment;")
                assert got.headers["X-Content-Type-Options"] == "nosniff"
            for bad in (f"files/00/{'0' * 64}", "files/..%2F..%2Fbridgebot.sqlite3",
                        f"files/{pdf.sha256[:2]}/../../../../etc/passwd",
                        f"files/{'ab' if photo.sha256[:2] != 'ab' else 'cd'}/{photo.sha256}"):
                async with http.get(base + bad) as got:
                    assert got.status == 404, bad
    finally:
        await server.stop()


async def test_exports_link_and_list_files_and_anonymized_ones_rename_them(rooms_world: World):
    w = rooms_world
    photo, pdf, _ = await _topic_with_files(w)
    archive = await load_archive(w.runtime.store, 1, w.runtime.platforms)
    assert archive is not None
    markdown = to_markdown(archive)
    assert f"![Nadia at the march.jpg](files/{photo.sha256[:2]}/{photo.sha256})" in markdown
    assert f"[notes.pdf](files/{pdf.sha256[:2]}/{pdf.sha256}) (application/pdf, 18 B)" in markdown
    [post] = json.loads(to_json(archive))["posts"]
    assert post["files"][1] == {"name": "notes.pdf", "type": "application/pdf", "size": 18,
                                "sha256": pdf.sha256}
    anonymous = await anonymized_archive(w.runtime.core.privacy, archive, w.runtime.platforms)
    page = to_html(anonymous)
    assert "attachment-1.jpg" in page and "attachment-2.pdf" in page and "Nadia" not in page
    await run_command(w.runtime.core, CommandContext(FACILITATOR, FORUM,
                      reply_to=w.console.visible("forum")[-1].message_id), "hide", "")
    hidden = await load_archive(w.runtime.store, 1, w.runtime.platforms)
    assert hidden is not None and photo.sha256 not in to_html(hidden)


async def test_a_hidden_posts_files_are_no_longer_served(rooms_world: World):
    w = rooms_world
    photo, pdf, _ = await _topic_with_files(w)
    server = ArchiveServer(w.runtime.store, refresh_seconds=60, files=w.runtime.core.files)
    port = await server.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}/topics/1/files/"
    try:
        async with aiohttp.ClientSession() as http:
            for stored in (photo, pdf):
                async with http.get(f"{base}{stored.sha256[:2]}/{stored.sha256}") as got:
                    assert got.status == 200
            assert w.console is not None
            await run_command(w.runtime.core, CommandContext(
                FACILITATOR, FORUM, reply_to=w.console.visible("forum")[-1].message_id),
                "hide", "")
            await w.runtime.drain()
            for stored in (photo, pdf):
                async with http.get(f"{base}{stored.sha256[:2]}/{stored.sha256}") as got:
                    assert got.status == 404, stored.name
    finally:
        await server.stop()
