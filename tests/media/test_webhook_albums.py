"""Telegram albums in webhook mode: each item is its own webhook request, answered before
Telegram sends the next, and still the album is one post and one message on Discord."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridgebot.adapters.telegram.settings import WebhookSettings
from bridgebot.core import service
from bridgebot.core.models import Action, Attachment, Author, ChannelRef, IncomingMessage
from bridgebot.core.service import Bridge
from bridgebot.runtime import Runtime
from bridgebot.sandbox.clients import discord_adapter, telegram_adapter
from tests.auxil.postgres import STORES
from tests.auxil.world import DISCORD_UNLIMITED, QUICK_BACKOFF, TELEGRAM_UNLIMITED, World

from ..conftest import Build
from ..telegram.test_telegram_webhook import free_port
from .images import png

SECRET = "s3cret-token_value"


def _webhook() -> WebhookSettings:
    port = free_port()
    return WebhookSettings(listen="127.0.0.1", port=port,
                           public_url=f"http://127.0.0.1:{port}/telegram", secret_token=SECRET)


async def _webhook_world(build: Build, hook: WebhookSettings) -> World:
    return await build(open_topic=True,
                       telegram_options={"mode": "webhook", "webhook": hook})


def _item(w: World, data: bytes, caption: str | None = None) -> dict[str, Any]:
    return w.tg.user_sends_photo(w.group["id"], w.jessica.tg, caption, data=data,
                                 reply_to=w.root["message_id"], media_group_id="4242")


async def _answered(w: World, message: dict[str, Any]) -> None:
    """Telegram got its 200 for the update carrying ``message``."""
    await w.tg.wait_for(lambda: not any(
        u.get("message", {}).get("message_id") == message["message_id"]
        for u in w.tg.pending_updates()))


async def _album_posts(w: World) -> list[Any]:
    return [p for p in await w.runtime.store.posts(1) if not p.is_opening]


@pytest.mark.parametrize("store", STORES, indirect=True)
async def test_a_three_photo_album_sent_by_webhook_is_one_post_and_one_discord_message(
        build: Build, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(service, "ALBUM_SETTLE", 1.0)
    w = await _webhook_world(build, _webhook())
    first = _item(w, png((10, 20, 30)), "Three moments from the open day")
    await _answered(w, first)
    # The first item was committed before Telegram got its answer; its copy waits.
    [post] = await _album_posts(w)
    assert len(post.attachments) == 1 and w.discord_mirrors() == []
    for color in ((40, 50, 60), (70, 80, 90)):
        await _answered(w, _item(w, png(color)))
    mirror = (await w.until(w.discord_mirrors))[0]
    await w.settle()
    assert len(w.discord_mirrors()) == 1
    assert len(mirror["attachments"]) == 3
    assert "Three moments from the open day" in mirror["content"]
    [post] = await _album_posts(w)
    assert post.text == "Three moments from the open day" and len(post.attachments) == 3
    items = [d for d in w.tg.webhook_deliveries if d.update_id > 0]
    assert [d.status for d in items][-3:] == [200, 200, 200], "each item answered in turn"


async def test_the_caption_on_a_later_item_and_a_repeated_item_still_make_one_post(
        build: Build, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(service, "ALBUM_SETTLE", 1.0)
    hook = _webhook()
    w = await _webhook_world(build, hook)
    await _answered(w, _item(w, png((1, 2, 3))))
    second = _item(w, png((3, 2, 1)), "Before and after")
    await _answered(w, second)
    # Telegram delivers the second item again (its answer was lost on the way).
    async with aiohttp.ClientSession() as http:
        async with http.post(hook.public_url, json={"update_id": 777, "message": second},
                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as response:
            assert response.status == 200
    mirror = (await w.until(w.discord_mirrors))[0]
    await w.settle()
    assert len(w.discord_mirrors()) == 1 and len(mirror["attachments"]) == 2
    assert "Before and after" in mirror["content"]
    [post] = await _album_posts(w)
    assert post.text == "Before and after" and len(post.attachments) == 2


@pytest.mark.parametrize("store", STORES, indirect=True)
async def test_a_restart_between_the_second_and_third_item_still_makes_one_post(
        build: Build, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        database: Callable[[Path], Path | str]):
    # Longer than any restart, even on a loaded machine: the copy waits for the third item,
    # and the test itself lets the settle time pass once that item is in.
    monkeypatch.setattr(service, "ALBUM_SETTLE", 600.0)
    hook = _webhook()
    w = await _webhook_world(build, hook)
    await _answered(w, _item(w, png((5, 5, 5)), "Our stall"))
    await _answered(w, _item(w, png((6, 6, 6))))
    await w.runtime.stop()  # the two items are committed; their copy waits for the third
    assert w.discord_mirrors() == []
    third = _item(w, png((7, 7, 7)))  # Telegram keeps it until the webhook answers again
    again = Runtime(database(tmp_path / "bridgebot.sqlite3"), [w.bridge], relay_backoff=QUICK_BACKOFF)
    again.add_adapter(telegram_adapter(w.tg, w.tokens["telegram"], limits=TELEGRAM_UNLIMITED,
                                       mode="webhook", webhook=hook))
    again.add_adapter(discord_adapter(w.dc, w.tokens["discord"], w.guild["id"],
                                      limits=DISCORD_UNLIMITED))
    await again.start()
    try:
        await _answered(w, third)  # committed before it was answered
        async with again.db.tx() as tx:  # the settle time has passed
            await tx.execute("UPDATE outbox SET not_before = 0 WHERE action = 'post'")
        again.core.wake_relay()
        await again.drain()
        mirrors = w.discord_mirrors()
        assert len(mirrors) == 1 and len(mirrors[0]["attachments"]) == 3
        [post] = [p for p in await again.store.posts(1) if not p.is_opening]
        assert post.text == "Our stall" and len(post.attachments) == 3
    finally:
        await again.stop()


async def test_an_item_that_comes_after_the_copy_went_out_follows_it_in_the_same_post(
        build: Build, monkeypatch: pytest.MonkeyPatch):
    # The copy waits until the test lets the settle time pass, once both items are in: a
    # short settle time raced the second item on a loaded machine (the copy left with one).
    monkeypatch.setattr(service, "ALBUM_SETTLE", 600.0)
    w = await _webhook_world(build, _webhook())
    await _answered(w, _item(w, png((11, 11, 11)), "The banner"))
    await _answered(w, _item(w, png((12, 12, 12))))
    assert w.discord_mirrors() == [], "the copy waits for the album's other items"
    async with w.runtime.db.tx() as tx:  # the settle time has passed
        await tx.execute("UPDATE outbox SET not_before = 0 WHERE action = 'post'")
    w.runtime.core.wake_relay()
    first = await w.until(w.discord_mirrors)
    assert len(first) == 1 and len(first[0]["attachments"]) == 2
    await _answered(w, _item(w, png((13, 13, 13))))  # late: after the copy went out
    late = await w.until(lambda: w.discord_mirrors()[1:])
    await w.settle()
    assert len(w.discord_mirrors()) == 2
    assert len(late[0]["attachments"]) == 1 and late[0]["author"]["username"].startswith("Jessica")
    [post] = await _album_posts(w)  # one post in the archive, with all three files
    assert post.text == "The banner" and len(post.attachments) == 3


@pytest.mark.parametrize("store", STORES, indirect=True)
async def test_an_item_that_joins_while_the_copy_is_on_its_way_follows_it(
        tmp_path: Path, database: Callable[[Path], Path | str]):
    """The relay built the album's copy with one file; the second item commits before the
    copy's record: its file follows the copy (a FILES delivery answering it), and one that
    comes after the record does too. One post, every file, every copy mapped to it."""
    forum, lounge = ChannelRef("console", "forum"), ChannelRef("console", "lounge")
    runtime = Runtime(database(tmp_path / "bridgebot.sqlite3"), [Bridge("allies", (forum, lounge))],
                      facilitators=[("console", "kristin")])
    await runtime.open()
    core, outbox = runtime.core, runtime.store
    try:
        await core.open_topic(Author("console", "kristin", "Kristin"), forum, "Open day")
        jessica = Author("console", "jessica", "Jessica")

        def item(n: int, caption: str = "") -> IncomingMessage:
            return IncomingMessage(
                where=forum, message_id=f"item-{n}", author=jessica, text=caption,
                sent_at=datetime.now(UTC), threadless=True, album="a-1",
                attachments=(Attachment(f"photo{n}.jpg", "image/jpeg", 2000, kind="photo"),))

        first = await core.receive(item(1, "The stall"))
        assert first.post is not None
        [row] = [r for r in await outbox.pending_for(lounge, first.post.topic_id, 10)
                 if r.action is Action.POST]
        copy = await core.build_delivery(row)  # the relay is on its way with one file
        assert copy is not None and copy.post is not None and len(copy.post.attachments) == 1
        second = await core.receive(item(2))
        assert second.post is not None and second.post.id == first.post.id
        await core.delivered(row, copy, ["copy-1"], None)
        [files] = [r for r in await outbox.pending_for(lounge, first.post.topic_id, 10)
                   if r.action is Action.FILES]
        follow = await core.build_delivery(files)
        assert follow is not None and follow.action is Action.POST and follow.post is not None
        assert [a.name for a in follow.post.attachments] == ["photo2.jpg"]
        assert follow.reply_to == "copy-1" and follow.post.text == ""
        await core.delivered(files, follow, ["copy-2"], None)
        third = await core.receive(item(3))  # after the copy went out: a FILES row at once
        assert third.post is not None and third.post.id == first.post.id
        [late] = [r for r in await outbox.pending_for(lounge, first.post.topic_id, 10)
                  if r.action is Action.FILES]
        shown = await core.build_delivery(late)
        assert shown is not None and shown.post is not None
        assert [a.name for a in shown.post.attachments] == ["photo3.jpg"]
        assert shown.reply_to == "copy-2"
        post = await outbox.post(first.post.id)
        assert post is not None and post.text == "The stall" and len(post.attachments) == 3
        assert await outbox.messages_on(lounge, post_id=post.id) == ["copy-1", "copy-2"]
        again = await core.receive(item(2))  # the second item delivered again
        assert again.duplicate
        post = await outbox.post(first.post.id)
        assert post is not None and len(post.attachments) == 3
        # Housekeeping forgets albums with the delivered rows of their time.
        await outbox.prune_delivered(datetime.now(UTC) + timedelta(hours=1))
        assert await outbox.album_post(forum, "a-1") is None
    finally:
        await runtime.db.close()
