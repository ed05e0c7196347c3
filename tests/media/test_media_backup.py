"""`bridgebot backup` carries a post's files; restored, the post has its photo again."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridgebot.runtime import Runtime
from bridgebot.store.backup import backup, restore
from bridgebot.store.migrations import LATEST
from tests.auxil.world import FACILITATOR, World, person

from .images import png


@pytest.mark.sqlite_only("`bridgebot backup` archives the SQLite file with the files beside it")
async def test_a_restored_backup_has_the_posts_photo(rooms_world: World, db_path: Path,
                                                     tmp_path: Path):
    w = rooms_world
    assert w.console is not None and w.runtime.core.files is not None
    await w.command(FACILITATOR, "/newtopic Photos\nShare them.")
    photo = await w.runtime.core.files.put(png(), "day.png", "image/png", "photo")
    await w.console.say("forum", person("Nadia Ali"), "A day", attachments=(photo,))
    await w.runtime.drain()
    summary = backup(db_path, tmp_path / "b.tar.gz")
    assert summary.files == 1
    restored = tmp_path / "restored" / "bridgebot.sqlite3"
    assert restore(tmp_path / "b.tar.gz", restored, LATEST).files == 1
    again = Runtime(restored, [])
    await again.open()
    try:
        [post] = [p for p in await again.store.posts(1) if not p.is_opening]
        assert post.attachments == (photo,)
        path = again.core.files.path(post.attachments[0]) if again.core.files else None
        assert path is not None and path.read_bytes() == w.runtime.core.files.path(photo).read_bytes()
    finally:
        await again.db.close()
