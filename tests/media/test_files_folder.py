"""Where posts' files are kept (the ``files_dir`` setting), and what happens when a worker
does not see them: several workers on one PostgreSQL share one folder, so a photo one
worker received is sent by another; a file missing from the folder crosses as the line
naming it (the stream goes on, nothing is dead-lettered) and the operator is told once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridgebot.cli import main
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter, telegram_adapter
from bridgebot.store.files import FileStore
from bridgebot.store.postgres import PgDatabase
from tests.auxil.world import DISCORD_UNLIMITED, TELEGRAM_UNLIMITED, World, person

from ..conftest import Build
from .images import png

SANDBOX_BOTS = {"telegram": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}


async def test_a_stored_file_missing_from_the_folder_crosses_as_its_line_and_the_next_goes_on(
        build: Build, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    shared = tmp_path / "shared-files"
    w = await build(console=("forum",), files_dir=shared, open_topic=True)
    files = w.runtime.core.files
    assert files is not None and w.console is not None and w.tg is not None
    gone = await files.put(png((10, 10, 10)), "lost-day.png", "image/png", "photo")
    where = files.path(gone)
    assert where is not None and where.is_relative_to(shared), "kept where files_dir says"
    where.unlink()  # another worker stored it in a folder this one does not see, say
    with caplog.at_level(logging.WARNING, logger="bridgebot.store.files"):
        await w.console.say("forum", person("Nadia Ali"), "A day", attachments=(gone,))
        await w.runtime.drain()
    here = await files.put(png((200, 10, 10)), "next-day.png", "image/png", "photo")
    await w.console.say("forum", person("Nadia Ali"), "The next day", attachments=(here,))
    await w.runtime.drain()

    [lost, sent] = w.discord_mirrors()
    assert lost["attachments"] == [] and "lost-day.png (image/png" in lost["content"]
    assert [a["filename"] for a in sent["attachments"]] == ["next-day.png"], "the stream went on"
    texts = [m.get("text", "") for m in w.tg.chat_messages(w.group["id"])]
    assert any("A day" in t and "lost-day.png (image/png" in t for t in texts)
    assert [m for m in w.tg.chat_messages(w.group["id"]) if "photo" in m], "the next as a photo"
    assert [e for e in await w.runtime.store.outbox() if e.state.value == "dead"] == []
    warned = [r.getMessage() for r in caplog.records if gone.sha256[:12] in r.getMessage()]
    assert len(warned) == 1, "once per file, not once per target"
    assert str(shared) in warned[0] and "files_dir" in warned[0]
    assert "lost-day" not in warned[0], "a file's name may be personal: never logged"


async def test_the_running_bot_sweeps_what_a_crash_left_in_its_files_folder(
        build: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Housekeeping (on start, then hourly) deletes the leftovers in the files_dir folder's
    tmp/ once an hour old: a download that died there, with its photo, is not kept."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # no download of another test
    shared = tmp_path / "shared-files"
    w = await build(console=("forum",), files_dir=shared, open_topic=True)
    store = w.runtime.storage.files
    assert isinstance(store, FileStore) and store.root == shared
    (shared / "tmp").mkdir(parents=True, exist_ok=True)
    (shared / "tmp" / "9a7c51").write_bytes(png((10, 10, 10)))  # a worker died here
    later = time.time() + 2 * 3600
    store.clock = lambda: later
    assert await w.runtime.outbox_keeper.sweep() == 1
    assert list((shared / "tmp").iterdir()) == []


def test_a_files_folder_that_cannot_be_written_stops_run_with_one_line_and_exit_2(
        db_setting: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")  # refused even to root
    for key in [k for k in os.environ if k.startswith("BRIDGEBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGEBOT_DATABASE", str(db_setting))
    monkeypatch.setenv("BRIDGEBOT_FILES_DIR", str(blocked / "files"))
    monkeypatch.setenv("BRIDGEBOT_TELEGRAM__TOKEN", SANDBOX_BOTS["telegram"])
    monkeypatch.setenv("BRIDGEBOT_TELEGRAM__BASE_URL", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("BRIDGEBOT_BRIDGES", '[{"name": "allies", "telegram_chats": [-100123]}]')
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    [line] = err.strip().splitlines()
    assert line.startswith("bridgebot: bad setting files_dir:") and str(blocked / "files") in line
    assert "Traceback" not in err


def test_a_files_folder_that_hangs_at_start_stops_run_with_one_line_and_exit_2(
        db_setting: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):
    """A network mount that stopped answering: one line after FILES_CHECK_SECONDS, not a
    start that hangs."""
    import threading

    import bridgebot.runtime
    from bridgebot.store.files import FileStore

    release = threading.Event()
    monkeypatch.setattr(FileStore, "check", lambda self: release.wait(30) and None)
    monkeypatch.setattr(bridgebot.runtime, "FILES_CHECK_SECONDS", 0.2)
    for key in [k for k in os.environ if k.startswith("BRIDGEBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRIDGEBOT_DATABASE", str(db_setting))
    monkeypatch.setenv("BRIDGEBOT_FILES_DIR", str(tmp_path / "mount" / "files"))
    monkeypatch.setenv("BRIDGEBOT_TELEGRAM__TOKEN", SANDBOX_BOTS["telegram"])
    monkeypatch.setenv("BRIDGEBOT_TELEGRAM__BASE_URL", "http://127.0.0.1:9")  # never reached
    monkeypatch.setenv("BRIDGEBOT_BRIDGES", '[{"name": "allies", "telegram_chats": [-100123]}]')
    try:
        assert main(["run"]) == 2
    finally:
        release.set()
    err = capsys.readouterr().err
    [line] = err.strip().splitlines()
    assert line.startswith("bridgebot: bad setting files_dir:"), line
    assert "did not answer within 0.2 s" in line and "Traceback" not in err


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
async def test_two_workers_in_different_working_directories_share_the_files_folder_and_a_photo_crosses(
        build: Build, db_setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Worker A polls Telegram and stores the photo; worker B alone sends to Discord. Each
    runs in its own working directory (where PostgreSQL's default data/files would differ);
    the files_dir setting names one folder for both, so B finds A's photo."""
    w = await build(start=False)  # the sandbox platforms and the bridge; no worker of its own
    assert w.tg is not None and w.dc is not None
    shared = tmp_path / "shared-files"
    async with contextlib.AsyncExitStack() as stack:
        workers: list[Runtime] = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            monkeypatch.chdir(tmp_path / name)
            worker = Runtime(db_setting, [w.bridge], files_dir=Path("../shared-files")
                             if name == "a" else shared)  # relative: against its own folder
            if name == "a":
                worker.add_adapter(telegram_adapter(w.tg, w.tokens["telegram"],
                                                    limits=TELEGRAM_UNLIMITED))
            else:
                worker.add_adapter(discord_adapter(w.dc, w.tokens["discord"], w.guild["id"],
                                                   limits=DISCORD_UNLIMITED))
            await worker.start()
            stack.push_async_callback(worker.stop)
            workers.append(worker)
        a, b = workers
        assert a.files_dir == b.files_dir == shared

        async def until(predicate: Any) -> Any:
            """The sandboxes' state, looked at until it shows what ``predicate`` wants."""
            async with asyncio.timeout(20):
                while True:
                    if found := predicate():
                        return found
                    await asyncio.sleep(0.05)

        w.tg.user_sends(w.group["id"], w.kristin.tg, "/newtopic Open days\nShare a photo.")
        await until(lambda: w.dc.threads(w.channel["id"]))
        w.tg.user_sends_photo(w.group["id"], w.jessica.tg, "Our open day", data=png())
        [copy] = await until(lambda: [m for m in w.mirrors(w.thread["id"]) if m["attachments"]])
        [upload] = copy["attachments"]
        assert upload["content_type"] == "image/jpeg", "a photo on Telegram is a JPEG"
        assert "Our open day" in copy["content"]
        async with aiohttp.ClientSession() as http, http.get(upload["url"]) as answer:
            received = await answer.read()
        [stored] = [p for p in shared.rglob("*") if p.is_file()]
        assert stored.read_bytes() == received, "B sent the file A stored"
        for name in ("a", "b"):
            assert not (tmp_path / name / "data").exists(), "nothing under a working directory"


async def test_backup_and_restore_carry_the_files_of_the_files_dir_folder(
        build: Build, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):
    """On SQLite the archive holds the database and the files; on PostgreSQL the files
    alone, and both commands say that the database is pg_dump's and pg_restore's."""
    folder = tmp_path / "elsewhere" / "files"
    w = await build(telegram=(), discord=(), console=("forum",), files_dir=folder, open_topic=True)
    assert w.console is not None and w.runtime.core.files is not None
    photo = await w.runtime.core.files.put(png(), "day.png", "image/png", "photo")
    await w.console.say("forum", person("Nadia Ali"), "A day", attachments=(photo,))
    await w.runtime.drain()
    await w.runtime.stop()  # a SQLite restore waits for the bot to stop
    for key in [k for k in os.environ if k.startswith("BRIDGEBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    db = w.runtime.db
    database = db.dsn if isinstance(db, PgDatabase) else str(db.path)
    monkeypatch.setenv("BRIDGEBOT_DATABASE", database)
    monkeypatch.setenv("BRIDGEBOT_FILES_DIR", str(folder))
    archive = tmp_path / "backup.tar.gz"

    assert await asyncio.to_thread(main, ["backup", str(archive)]) == 0
    said = capsys.readouterr().out
    [stored] = [p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).parts[0] != "tmp"]
    kept = stored.read_bytes()
    stored.unlink()
    assert await asyncio.to_thread(main, ["restore", str(archive)]) == 0
    said += capsys.readouterr().out
    assert stored.read_bytes() == kept, "the photo is back in the files_dir folder"
    if store == "postgresql":
        assert "1 stored file(s)" in said and "pg_dump" in said and "pg_restore" in said
    else:
        assert "1 stored file(s)" in said and "pg_dump" not in said
    assert not (tmp_path / "files").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)  # SQLite restores its database too
async def test_restoring_files_on_postgresql_never_brings_back_a_file_erased_since_the_backup(
        build: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]):
    """The files' backup is restored into a database that was not rolled back (pg_restore
    is the operator's): a photo its author erased with /forgetme after the backup stays
    erased; the photo of a post that is still there comes back."""
    folder = tmp_path / "files"
    w = await build(telegram=(), discord=(), console=("forum",), files_dir=folder, open_topic=True)
    assert w.console is not None and w.runtime.core.files is not None
    nadia, omar = person("Nadia Ali"), person("Omar Haddad")
    erased = await w.runtime.core.files.put(png((200, 30, 30)), "nadia.png", "image/png", "photo")
    kept = await w.runtime.core.files.put(png((30, 200, 30)), "omar.png", "image/png", "photo")
    await w.console.say("forum", nadia, "Our open day", attachments=(erased,))
    await w.console.say("forum", omar, "The market", attachments=(kept,))
    await w.runtime.drain()
    for key in [k for k in os.environ if k.startswith("BRIDGEBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    db = w.runtime.db
    assert isinstance(db, PgDatabase)
    monkeypatch.setenv("BRIDGEBOT_DATABASE", db.dsn)
    monkeypatch.setenv("BRIDGEBOT_FILES_DIR", str(folder))
    archive = tmp_path / "files-backup.tar.gz"
    assert await asyncio.to_thread(main, ["backup", str(archive)]) == 0

    await w.command(nadia, "/forgetme")
    await w.command(nadia, "/forgetme confirm")
    await w.runtime.drain()
    stored = {p.name for p in folder.rglob("*") if p.is_file() and p.parts[-3] != "tmp"}
    assert erased.sha256 not in stored and kept.sha256 in stored, "/forgetme deleted her file"
    for path in folder.rglob(kept.sha256):
        path.unlink()  # the volume lost the other one: what the restore is for
    capsys.readouterr()

    assert await asyncio.to_thread(main, ["restore", str(archive)]) == 0
    said = capsys.readouterr().out
    stored = {p.name for p in folder.rglob("*") if p.is_file()}
    assert kept.sha256 in stored, "a post's file lost from the folder is back"
    assert erased.sha256 not in stored, "an erased file stays erased"
    assert "Restored 1 stored file(s)" in said and "Left out 1 file(s)" in said


def test_an_empty_files_dir_is_unset_not_the_working_directory(monkeypatch: pytest.MonkeyPatch):
    from bridgebot.settings import load_settings

    monkeypatch.setenv("BRIDGEBOT_FILES_DIR", " ")
    assert load_settings().files_dir is None
    monkeypatch.setenv("BRIDGEBOT_FILES_DIR", "/srv/bridgebot/files")
    assert load_settings().files_dir == Path("/srv/bridgebot/files")


async def test_a_hung_files_folder_holds_one_probe_thread_however_often_health_asks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import threading
    from typing import cast

    from bridgebot.store.files import FileStore

    files = FileStore(cast(Any, None), tmp_path / "files")  # no database: only the folder
    release, started = threading.Event(), []

    def hung() -> None:  # a network mount that stopped answering
        started.append(1)
        release.wait(10)

    monkeypatch.setattr(files, "check", hung)
    try:
        for _ in range(3):
            assert await files.problem(0.05) == f"the folder {files.root} did not answer within 0.05 s"
        assert len(started) == 1, "one probe waits on the mount; the asks share it"
    finally:
        release.set()
    monkeypatch.undo()
    assert await files.problem(5) is None, "answering again"


async def test_a_photo_received_while_the_folder_cannot_be_written_is_a_post_with_its_line(
        bridged: World, caplog: pytest.LogCaptureFixture):
    """Not passed over: the post is accepted, its copy names the file (type, size), and the
    next photo, once the folder is back, crosses as a photo."""
    w = bridged
    files = w.runtime.core.files
    assert files is not None and w.tg is not None
    (files.root / "tmp").mkdir(parents=True, exist_ok=True)
    (files.root / "tmp").rename(files.root / "tmp-away")
    (files.root / "tmp").write_text("a network mount gone, say")
    with caplog.at_level(logging.WARNING, logger="bridgebot.store.files"):
        w.tg.user_sends_photo(w.group["id"], w.jessica.tg, "Our open day", data=png(),
                              reply_to=w.root["message_id"])
        [copy] = await w.until(w.discord_mirrors)
    assert copy["attachments"] == [] and "Our open day" in copy["content"]
    assert "(image/jpeg, " in copy["content"], "the line naming the file, its type and size"
    [post] = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert post.text == "Our open day" and [a.stored for a in post.attachments] == [False]
    assert any("could not be stored" in r.getMessage() for r in caplog.records)
    (files.root / "tmp").unlink()  # the folder is back
    w.tg.user_sends_photo(w.group["id"], w.jessica.tg, "The next day", data=png((9, 9, 9)),
                          reply_to=w.root["message_id"])
    later = await w.until(lambda: [m for m in w.discord_mirrors() if m["attachments"]])
    assert "The next day" in later[0]["content"]


async def test_check_config_names_the_files_folder_and_refuses_one_it_cannot_write(
        db_setting: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from bridgebot.checks import EXIT_CONFIG, EXIT_OK, run_checks
    from bridgebot.settings import load_settings

    for key in [k for k in os.environ if k.startswith("BRIDGEBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("BRIDGEBOT_DATABASE", str(db_setting))
    monkeypatch.setenv("BRIDGEBOT_FILES_DIR", str(tmp_path / "shared" / "files"))
    said: list[str] = []
    assert await run_checks(load_settings(), said.append) == EXIT_OK
    assert f"files: {tmp_path / 'shared' / 'files'}" in said, "to compare across workers"
    (tmp_path / "blocked").write_text("a file where the folder should be")
    monkeypatch.setenv("BRIDGEBOT_FILES_DIR", str(tmp_path / "blocked" / "files"))
    said.clear()
    assert await run_checks(load_settings(), said.append) == EXIT_CONFIG
    assert any(line.startswith(f"  ! files_dir: the folder {tmp_path / 'blocked' / 'files'} "
                               "cannot be written") for line in said), said
