"""`bridgebot db copy`: a SQLite deployment moved into PostgreSQL keeps every topic, post,
number, message map entry and delivery, and the bot goes on there."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.models import Author, ChannelRef
from bridgebot.store.backup import files_dir
from bridgebot.store.files import FileStore
from bridgebot.store.postgres import PgDatabase
from bridgebot.store.repo import Store

from .auxil.postgres import PostgresServer
from .auxil.world import FACILITATOR, FORUM, person
from .conftest import ROOMS, Build
from .media.images import png


async def copy(source: Path, target: str, **settings: str) -> tuple[int | None, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGEBOT_")} | settings
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridgebot.cli", "db", "copy", "--from", f"sqlite:///{source}",
        "--to", target, cwd=source.parent, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


@pytest.mark.sqlite_only("the copy's source is a SQLite file (its target is PostgreSQL)")
async def test_a_sqlite_discussion_moves_into_postgresql_and_goes_on_there(
        build: Build, db_path: Path, postgres_server: PostgresServer):
    w = await build(telegram=(), discord=(), console=ROOMS, database=db_path)
    await run_command(w.runtime.core, CommandContext(FACILITATOR, FORUM), "newtopic", "Allies\nIntro")
    await run_command(w.runtime.core, CommandContext(FACILITATOR, FORUM), "prompt", "Examples?")
    for i in range(5):
        await w.console.say("forum", person("Brittany"), f"example {i}")
    assert w.runtime.core.files is not None
    photo = await w.runtime.core.files.put(png(), "day.png", "image/png", "photo")
    await w.console.say("forum", person("Nadia Ali"), "A day", attachments=(photo,))
    await w.runtime.drain()
    before = Store(w.runtime.db)
    posts = [(p.id, p.number, p.text, p.author_name) for p in await before.posts(1)]
    outbox = len(await before.outbox())

    url = postgres_server.fresh()
    shared = db_path.parent.parent / "shared-files"  # the workers' files_dir
    # While the bot still runs on the file.
    code, out, err = await copy(db_path, url, BRIDGEBOT_FILES_DIR=str(shared))
    assert code == 0, err
    assert "every table's count checked" in out and "posts" in out
    assert f"Copied 1 stored file(s) from {files_dir(db_path)} to {shared}" in out

    db = PgDatabase(url)
    await db.open()
    try:
        store = Store(db)
        assert [(p.id, p.number, p.text, p.author_name) for p in await store.posts(1)] == posts
        [moved] = [p for p in await store.posts(1) if p.attachments]
        path = FileStore(db, shared).path(moved.attachments[0])
        assert path is not None and path.read_bytes() == w.runtime.core.files.path(photo).read_bytes()
        assert len(await store.outbox()) == outbox
        # New rows take ids after the copied ones, and numbers go on.
        post_id, number = await store.add_post(
            topic_id=1, author=Author("console", "jessica", "Jessica"), text="after the move",
            subject=None, parent_id=None, prompt_id=None, created_at=datetime.now(UTC),
            origin=ChannelRef("console", "forum"), message_id="moved-1", targets=[])
        assert post_id > max(p[0] for p in posts) and number == len(posts) + 1
        # The per-topic counts are the target's own, kept as the posts were copied: each
        # post counted once.
        assert (await store.stats(1, None)).posts == len(posts) + 1
        assert (await store.topic_counts())[1] == (len(posts) + 1, number)
    finally:
        await db.close()

    code, _, err = await copy(db_path, url)  # the target has rows now
    assert code == 1 and "not empty" in err


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def content(path: Path) -> bytes:
    return path.read_bytes()


@pytest.mark.sqlite_only("the copy's source is a SQLite file")
async def test_a_source_that_is_not_there_is_one_line_and_nothing_is_made(
        tmp_path: Path, postgres_server: PostgresServer):
    """A mistyped --from was opened, so made: an empty database and its lock file, "copied"
    (0 rows, exit 0) into the target."""
    url = postgres_server.fresh()
    code, out, err = await copy(tmp_path / "mistyped.sqlite3", url)
    assert code == 2 and out == "", (out, err)
    assert err.strip().splitlines() == [
        f"bridgebot: there is no database at {tmp_path / 'mistyped.sqlite3'} (--from)"]
    assert names_in(tmp_path) == []
    target = PgDatabase(url)
    await target.open()
    try:
        assert await target.fetch("SELECT COUNT(*) FROM posts") == [(0,)]
    finally:
        await target.close()


@pytest.mark.sqlite_only("--from and --to name one SQLite file")
async def test_a_copy_into_its_own_source_is_refused(build: Build, db_path: Path):
    """Into itself, an empty database was "copied" (0 rows, exit 0)."""
    w = await build(telegram=(), discord=(), console=ROOMS, database=db_path)
    await w.runtime.stop()
    before = content(db_path)
    code, out, err = await copy(db_path, str(db_path.parent / ".." / db_path.parent.name / db_path.name))
    assert code == 1 and out == "", (out, err)
    assert err.strip().splitlines() == [
        f"bridgebot: db copy refused: --from and --to name the same database ({db_path}); copy "
        "into a new, empty database"]
    assert content(db_path) == before
