"""Files are stored once, by content, without image metadata: beside the database on SQLite,
in the folder the workers share (``bridgebot.store.PG_FILES``) on PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

import bridgebot.store
from bridgebot.media import download_target
from bridgebot.store import open_database, storage_for
from bridgebot.store.backup import files_dir
from bridgebot.store.db import Database
from bridgebot.store.files import FileStore

from .images import GPS_IFD, SERIAL, jpeg_with_gps, metadata_of


def _with_gps(fmt: str) -> bytes:
    """An image of ``fmt`` carrying EXIF with a GPS position, and XMP where the format can."""
    with Image.open(io.BytesIO(jpeg_with_gps())) as source:
        exif = source.getexif()
        out = io.BytesIO()
        extra: dict[str, object] = {"exif": exif.tobytes()}
        if fmt in ("JPEG", "PNG", "WEBP"):
            extra["xmp"] = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">Nadia, Tunis</x:xmpmeta>'
        source.convert("RGB").save(out, fmt, **extra)
    return out.getvalue()


@pytest.fixture
async def files(db_setting: Path | str) -> AsyncIterator[FileStore]:
    """The file store of the test's database, as the runtime makes it."""
    db = open_database(db_setting)
    await db.open()
    try:
        yield storage_for(db).files
    finally:
        await db.close()


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"),
                                           ("WEBP", "image/webp"), ("TIFF", "image/tiff")])
async def test_a_photo_is_stored_without_its_gps_position_serial_or_xmp(files, fmt, mime):
    original = _with_gps(fmt)
    assert GPS_IFD in metadata_of(original) and SERIAL in metadata_of(original)
    stored = await files.put(original, "IMG_0042.x", mime, "photo")
    path = files.path(stored)
    assert path is not None and path.parent.parent == files.root
    kept = metadata_of(path.read_bytes())
    assert GPS_IFD not in kept and SERIAL not in kept and -1 not in kept, kept
    assert b"Nadia" not in path.read_bytes()
    with Image.open(path) as image:
        assert image.size == (64, 48)


async def test_the_same_file_twice_is_stored_once_under_its_hash(files):
    one = await files.put(b"%PDF-1.4 notes", "notes.pdf", "application/pdf", "document")
    two = await files.put(b"%PDF-1.4 notes", "copy of notes.pdf", "application/pdf", "document")
    assert one.sha256 == two.sha256 and one.size == 14
    if isinstance(files.db, Database):
        assert files.root == files_dir(files.db.path)
    else:
        assert files.root == bridgebot.store.PG_FILES
    assert [p for p in files.root.rglob("*") if p.is_file()] == [files.path(one)]
    assert (one.name, two.name) == ("notes.pdf", "copy of notes.pdf")


async def test_a_file_name_never_becomes_a_path(files):
    stored = await files.put(b"data", "../../etc/passwd", "text/plain", "document")
    assert stored.name == "passwd"
    assert files.path_of("../../../etc/passwd") is None


async def test_a_file_no_post_refers_to_is_discarded(files):
    stored = await files.put(b"bye", "bye.txt", "text/plain", "document")
    assert await files.discard([stored.sha256]) == 1
    assert files.path(stored) is None


@pytest.mark.parametrize("mime", ["application/octet-stream", "", "image/jpg", "text/plain"])
async def test_a_jpeg_sent_under_another_type_still_loses_its_gps_position(files, mime):
    """What a file is, not what its sender's app says it is: a phone photo sent "as a file"
    with a generic or wrong type is still a JPEG carrying where it was taken."""
    stored = await files.put(jpeg_with_gps(), "IMG_0042.JPG", mime, "document")
    path = files.path(stored)
    assert path is not None
    kept = metadata_of(path.read_bytes())
    assert GPS_IFD not in kept and SERIAL not in kept, kept
    assert stored.mime_type == (mime or "application/octet-stream"), "its type is as sent"


@pytest.mark.parametrize("data", [b"\xff\xd8\xff not really a jpeg, a report",
                                  b"II*\x00 a camera RAW file starts as a TIFF does"])
async def test_a_file_that_only_starts_like_an_image_is_kept_as_it_is(files, data):
    stored = await files.put(data, "report.bin", "application/octet-stream", "document")
    path = files.path(stored)
    assert path is not None and path.read_bytes() == data


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
async def test_a_png_or_webp_sent_as_a_generic_file_loses_its_metadata(files, fmt):
    stored = await files.put(_with_gps(fmt), "screenshot", "application/octet-stream", "document")
    path = files.path(stored)
    assert path is not None
    kept = metadata_of(path.read_bytes())
    assert GPS_IFD not in kept and -1 not in kept and b"Nadia" not in path.read_bytes(), kept


async def test_what_a_crash_left_in_tmp_goes_once_unchanged_for_an_hour(
        files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A file caught in tmp/ between its arrival and its rename (a crash) may be a photo
    whose metadata was not removed yet: it is deleted once nothing changed in it for an
    hour, and nothing a write (in this worker or another sharing the folder) is still
    changing, nor any stored file."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # no download of another test
    stored = await files.put(b"%PDF-1.4 notes", "notes.pdf", "application/pdf", "document")
    tmp = files.root / "tmp"
    crashed = tmp / "5f1d0c2b"
    crashed.write_bytes(_with_gps("JPEG"))
    (tmp / "5f1d0c2b.clean").write_bytes(b"half a photo")
    (tmp / "tmpq8x3" / "files" / "ab").mkdir(parents=True)  # a restore that stopped
    (tmp / "tmpq8x3" / "files" / "ab" / ("ab" * 32)).write_bytes(b"restored")
    writing = tmp / "copy-4e2a"  # being written: changed ten minutes "ago"
    writing.write_bytes(b"still coming")
    extracting = tmp / "tmpzz91" / "files"  # a restore still extracting
    extracting.mkdir(parents=True)
    (extracting / "cd").write_bytes(b"part")
    later = time.time() + 2 * 3600  # two hours on (a file's ctime cannot be set back)
    for fresh in (writing, extracting / "cd"):
        os.utime(fresh, (later - 600, later - 600))
    files.clock = lambda: later
    assert await files.sweep_leftovers() == 3
    assert sorted(p.name for p in tmp.iterdir()) == ["copy-4e2a", "tmpzz91"]
    assert (extracting / "cd").read_bytes() == b"part"
    path = files.path(stored)
    assert path is not None and path.read_bytes() == b"%PDF-1.4 notes", "stored files stay"
    files.clock = lambda: later + 3600
    assert await files.sweep_leftovers() == 2 and list(tmp.iterdir()) == []
    again = await files.put(b"next", "next.txt", "text/plain", "document")
    assert files.path(again) is not None, "tmp/ itself stays for the next file"


async def test_a_files_folder_without_tmp_has_nothing_to_sweep(tmp_path: Path):
    store = FileStore(Database(tmp_path / "bridgebot.sqlite3"), tmp_path / "files")
    assert await store.sweep_leftovers() == 0
    assert not (tmp_path / "files").exists(), "sweeping makes nothing"


async def test_a_download_a_crash_left_in_the_system_temporary_folder_goes_too(
        files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Platform downloads are written to the system's temporary folder first (a local
    disk); one a crash cut short, perhaps a photo with its GPS position, is swept with the
    files folder's leftovers. Nothing else there is touched."""
    system = tmp_path / "system-tmp"
    system.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system))
    handle, cut_short = download_target()
    with os.fdopen(handle, "wb") as out:
        out.write(_with_gps("JPEG")[:100])
    handle, downloading = download_target()
    os.close(handle)
    (system / "bridgebot-demo-x1").mkdir()  # someone else's: another prefix
    (system / "report.pdf").write_bytes(b"%PDF")
    later = time.time() + 2 * 3600
    os.utime(downloading, (later - 60, later - 60))  # still being written
    files.clock = lambda: later
    assert await files.sweep_leftovers() == 1
    assert not cut_short.exists() and downloading.exists()
    assert sorted(p.name for p in system.iterdir()) == sorted(
        ["bridgebot-demo-x1", "report.pdf", downloading.name])


async def test_stopping_housekeeping_as_a_sweep_finishes_stops_it(tmp_path):
    """The keeper is stopped (cancelled) just as its sweep of the files folder answers: the
    stop must win. Waited for with ``wait_for(shield(...))``, Python 3.11 returned the
    sweep's count instead, and the keeper went on to sleep for an hour with the shutdown
    waiting on it (seen in CI as a test teardown that hung)."""
    import asyncio

    store = FileStore(Database(tmp_path / "bridgebot.sqlite3"), tmp_path / "files")
    sweep: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    store._sweep = sweep  # a sweep under way (one at a time: this one is waited for)
    keeper = asyncio.create_task(store.sweep_leftovers(timeout=30))
    await asyncio.sleep(0)  # it waits for the sweep
    sweep.set_result(0)
    await asyncio.sleep(0)  # the answer is on its way to the waiting keeper
    keeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await keeper
    assert keeper.cancelled()


async def test_a_database_in_memory_takes_its_files_folder_with_it():
    """A database in memory (the demo's, a test's) keeps posts' files in a temporary folder
    of its own; when its store goes, the folder goes with it, files and all, rather than
    piling up in the system's temporary folder run after run."""
    import gc

    store = FileStore(Database(":memory:"))
    folder = store.root
    assert folder.is_dir() and folder.name.startswith("bridgebot-files-")
    stored = await store.put(b"%PDF-1.4 minutes", "minutes.pdf", "application/pdf", "document")
    assert store.path(stored) is not None
    del store
    gc.collect()
    assert not folder.exists()
