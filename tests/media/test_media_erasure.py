"""A person's files leave with their words: /forgetme and retention delete the stored
files, and the copies on the other platforms lose them too."""

from __future__ import annotations

from bridgebot.core.privacy import REMOVED_BY_AUTHOR
from tests.auxil.world import FACILITATOR, Clock, World, person

from .images import jpeg_with_gps, png

NADIA = person("Nadia Ali")


async def test_forgetme_deletes_the_persons_files_and_their_copies_lose_them(bridged: World):
    w = bridged
    w.tg.user_sends_photo(w.group["id"], w.jessica.tg, "Our open day", data=jpeg_with_gps(),
                          reply_to=w.root["message_id"])
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "Our poster",
                    attachments=[("poster.png", png(), "image/png")])
    mirror = (await w.until(w.discord_mirrors))[0]  # Jessica's photo, under her name
    assert mirror["attachments"]
    await w.until(lambda: [m for m in w.tg.chat_messages(w.group["id"]) if "photo" in m
                           and m.get("from", {}).get("is_bot")])
    posts = {p.author_platform: p for p in await w.runtime.store.posts(1) if not p.is_opening}
    files = w.runtime.core.files
    jessica_file = files.path(posts["telegram"].attachments[0])
    brittany_file = files.path(posts["discord"].attachments[0])
    assert jessica_file is not None and brittany_file is not None
    w.tg.user_sends(w.group["id"], w.jessica.tg, "/forgetme")
    await w.settle()
    w.tg.user_sends(w.group["id"], w.jessica.tg, "/forgetme confirm")
    await w.until(lambda: [m for m in w.bot_texts() if m.startswith("Done: I have forgotten you")])
    assert not jessica_file.exists(), "the photo is still in the data directory"
    assert brittany_file.exists(), "someone else's file went too"
    copy = await w.until(lambda: (m := w.dc.message(mirror["id"])) and not m["attachments"] and m)
    assert REMOVED_BY_AUTHOR in copy["content"]
    [post] = [p for p in await w.runtime.store.posts(1) if p.number == posts["telegram"].number]
    assert post.attachments == ()


async def test_retention_deletes_the_files_of_a_locked_topic(build):
    clock = Clock()
    w = await build(telegram=(), discord=(), console=("forum", "lounge"), retention_days=90,
                    clock=clock)
    files = w.runtime.core.files
    assert files is not None and w.console is not None
    await w.command(FACILITATOR, "/newtopic Photos\nShare them.")
    stored = await files.put(png(), "day.png", "image/png", "photo")
    _, outcome = await w.console.say("forum", NADIA, "A day", attachments=(stored,))
    assert outcome.post is not None and files.path(stored) is not None
    await w.command(FACILITATOR, "/lock")
    clock.advance(days=91)
    assert await w.runtime.privacy_keeper.purge() == 1
    assert files.path(stored) is None
    [post] = [p for p in await w.runtime.store.posts(1) if not p.is_opening]
    assert post.attachments == ()
