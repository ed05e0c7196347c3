"""The console shell posts a file by its path, as the chats post a photo."""

from __future__ import annotations

from pathlib import Path

from bridgebot.adapters.console.shell import Shell
from tests.auxil.world import World

from .images import GPS_IFD, jpeg_with_gps, metadata_of


async def test_a_photo_posted_by_its_path_is_stored_without_gps_and_named_in_the_other_room(
        rooms_world: World, tmp_path: Path):
    w = rooms_world
    assert w.console is not None
    said: list[str] = []
    shell = Shell(w.runtime, w.console, said.append)
    photo = tmp_path / "open-day.jpg"
    photo.write_bytes(jpeg_with_gps())
    for line in ("/facilitator Kristin Antin", "/newtopic Open days\nShare a photo.",
                 "/as Nadia Ali", f"/file {photo} Our open day", "/file /nonexistent.png x"):
        await shell.handle(line)
    assert any("/file PATH" in line for line in said)
    [post] = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert post.text == "Our open day" and post.attachments[0].name == "open-day.jpg"
    stored = w.runtime.core.files.path(post.attachments[0])
    assert stored is not None and GPS_IFD not in metadata_of(stored.read_bytes())
    assert photo.exists(), "the shell must not move the person's file"
    [copy] = [s for s in w.console.visible("lounge") if "Nadia Ali" in s.author]
    assert "Our open day" in copy.text and "open-day.jpg (image/jpeg" in copy.text
