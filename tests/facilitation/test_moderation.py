"""Hiding a post: gone from every chat (original included where allowed), kept in the records."""

from __future__ import annotations

import pytest

from bridgebot.cli import load_archive
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.export import to_markdown
from bridgebot.core.models import DeliveryState

from ..auxil.world import FACILITATOR, FORUM, World, allies, person


async def open_topic_with_a_telegram_post(w: World) -> tuple[dict, dict]:
    """Kristin opens a topic from Telegram; Brittany answers it there; it reaches Discord."""
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/newtopic Engaging allies\nShare your examples.")
    await w.until(lambda: w.dc.threads(w.channel["id"]))
    root = next(m for m in w.tg.chat_messages(w.group["id"])
                if m.get("text", "").startswith("Engaging allies"))
    original = w.tg.user_sends(w.group["id"], w.brittany.tg,
                               "Engaging governmental allies in Jordan\n\nAn example from Jordan.",
                               reply_to=root["message_id"])
    mirror = (await w.until(lambda: [m for m in w.dc.channel_messages(w.thread["id"])
                                     if m.get("webhook_id")]))[0]
    return original, mirror


def answers(w: World, text: str) -> list[str]:
    return [t for t in w.bot_texts() if text in t]


async def test_a_hidden_post_leaves_every_chat_and_unhide_brings_it_back(tmp_path, db_setting):
    async with allies(tmp_path, database=db_setting, schedule_recheck=0.2) as w:
        original, mirror = await open_topic_with_a_telegram_post(w)
        w.tg.user_sends(w.group["id"], w.kristin.tg, "/hide", reply_to=original["message_id"])
        await w.until(lambda: answers(w, "Post #2 by Brittany Landorf is hidden"))
        # Discord: the webhook's mirror is deleted through the webhook.
        await w.until(lambda: not [m for m in w.dc.channel_messages(w.thread["id"])
                                   if m.get("webhook_id")])
        assert w.dc.calls_to("DELETE", rf"/webhooks/\d+/[^/]+/messages/{mirror['id']}")
        # Telegram: the bot is an admin, so Brittany's original message is deleted too.
        deletions = [c.params["message_id"] for c in w.tg.calls_to("deleteMessage") if c.status == 200]
        assert deletions == [original["message_id"]]
        assert original["message_id"] not in [m["message_id"] for m in w.tg.chat_messages(w.group["id"])]
        post = await w.runtime.store.post_by_number(1, 2)
        assert post.hidden and post.hidden_by == "Kristin Antin" and post.text == "An example from Jordan."
        assert "Jordan" not in to_markdown(await load_archive(w.runtime.store, 1))

        w.tg.user_sends(w.group["id"], w.kristin.tg, "/unhide 2")
        back = await w.until(lambda: [m for m in w.dc.channel_messages(w.thread["id"])
                                      if m.get("webhook_id")])
        assert "An example from Jordan." in back[0]["content"] and back[0]["id"] != mirror["id"]
        # Its original is gone, so Telegram gets the post back as a mirror by the bot.
        mirrored = await w.until(lambda: [t for t in w.bot_texts()
                                          if t.startswith("Brittany Landorf · Telegram · #2")])
        assert mirrored[0].endswith("An example from Jordan.")
        assert not (await w.runtime.store.post_by_number(1, 2)).hidden
        assert "Jordan" in to_markdown(await load_archive(w.runtime.store, 1))


async def test_a_bot_not_allowed_to_delete_says_so_in_the_chat_and_in_status(tmp_path, db_setting):
    async with allies(tmp_path, database=db_setting, schedule_recheck=0.2,
                      bot_rights={"can_delete_messages": False}) as w:
        original, _ = await open_topic_with_a_telegram_post(w)
        w.tg.user_sends(w.group["id"], w.kristin.tg, "/hide 2")
        await w.until(lambda: not [m for m in w.dc.channel_messages(w.thread["id"])
                                   if m.get("webhook_id")])
        notice = (await w.until(lambda: [m for m in w.tg.chat_messages(w.group["id"])
                                         if "not allowed to delete" in m.get("text", "")]))[0]
        assert notice["reply_to_message"]["message_id"] == original["message_id"]
        assert original["message_id"] in [m["message_id"] for m in w.tg.chat_messages(w.group["id"])]
        dead = [e for e in await w.runtime.store.outbox() if e.state is DeliveryState.DEAD]
        assert len(dead) == 1 and "could not delete message" in dead[0].last_error
        w.tg.user_sends(w.group["id"], w.kristin.tg, "/status")
        status = await w.until(lambda: answers(w, "failed for good"))
        assert status[0].startswith("“Engaging allies” (topic #1)\n1 post / ")
        # Unhiding: the original is still there, so only Discord gets the post again.
        sent_before = len(w.bot_texts())
        w.tg.user_sends(w.group["id"], w.kristin.tg, "/unhide 2")
        await w.until(lambda: [m for m in w.dc.channel_messages(w.thread["id"])
                               if m.get("webhook_id")])
        await w.until(lambda: answers(w, "is visible again"))
        assert not [t for t in w.bot_texts()[sent_before:] if t.startswith("Brittany Landorf ·")]


async def test_discord_hides_by_message_menu_and_unhides_by_number(tmp_path, db_setting):
    async with allies(tmp_path, database=db_setting, schedule_recheck=0.2) as w:
        await open_topic_with_a_telegram_post(w)
        thread = w.thread
        jessica_msg = w.dc.user_sends(thread["id"], w.jessica.dc, "Thanks Brittany!")
        mirrored = await w.until(lambda: answers(w, "Thanks Brittany!"))
        assert mirrored[0].startswith("Jessica Okafor · Discord · #3")
        with pytest.raises(PermissionError):  # Discord offers the menu to facilitators only
            w.dc.invoke_message_command(w.jessica.dc, w.guild["id"], thread["id"], "Hide post",
                                        jessica_msg["id"])
        handle = w.dc.invoke_message_command(w.kristin.dc, w.guild["id"], thread["id"],
                                             "Hide post", jessica_msg["id"])
        await handle.response(timeout=5)
        answer = (await handle.wait_for_followups(1))[0]
        assert answer["flags"] & 64 and answer["content"].startswith("Post #3 by Jessica Okafor is hidden")
        await w.until(lambda: not answers(w, "Thanks Brittany!"))
        # Her own message in the Discord thread was deleted by the bot (it may manage messages).
        await w.until(lambda: jessica_msg["id"] not in
                      [m["id"] for m in w.dc.channel_messages(thread["id"])])
        assert (await w.runtime.store.post_by_number(1, 3)).hidden_by == "Kristin Antin"
        answer = await w.slash(w.kristin.dc, "unhide", thread["id"], number=3)
        assert answer["content"].startswith("Post #3 by Jessica Okafor is visible again")
        await w.until(lambda: answers(w, "Thanks Brittany!"))
        back = await w.until(lambda: [m for m in w.dc.channel_messages(thread["id"])
                                      if "Thanks Brittany!" in m["content"]])
        assert back[0]["author"]["username"] == "Jessica Okafor · Disc\u043erd"


async def test_only_facilitators_hide_and_bad_requests_get_a_polite_answer(runtime, console):
    ctx = CommandContext(FACILITATOR, FORUM)
    await run_command(runtime.core, ctx, "newtopic", "Engaging allies\nShare your examples.")
    await runtime.drain()
    shown, _ = await console.say("forum", person("Brittany Landorf"), "My example")
    await runtime.drain()
    participant = CommandContext(person("Jessica"), FORUM)
    assert (await run_command(runtime.core, participant, "hide", "2")).startswith(
        "Sorry, /hide is for facilitators")
    assert await run_command(runtime.core, ctx, "hide", "9") == "This topic has no post #9."
    assert await run_command(runtime.core, ctx, "hide", "two") == (
        "Usage: /hide N — for example /hide 5 hides post #5.")
    assert (await run_command(runtime.core, ctx, "hide", "")).startswith("Usage: /hide N")
    assert (await run_command(runtime.core, ctx, "hide", "1")).startswith(
        "The topic's opening post cannot be hidden")
    assert (await run_command(runtime.core, ctx, "unhide", "2")) == "Post #2 is not hidden."
    assert (await run_command(runtime.core, ctx, "hide", "#2")).startswith("Post #2 by Brittany")
    assert (await run_command(runtime.core, ctx, "hide", "2")) == "Post #2 is already hidden."
    await runtime.drain()
    # Console rooms: the original in the forum and its mirror in the lounge are both removed.
    assert shown.deleted
    assert not [s for s in console.visible("lounge") if "My example" in s.text]
    status = await run_command(runtime.core, ctx, "status", "")
    assert "1 post / " in status, "a hidden post is not counted"


async def test_after_48_hours_hide_explains_telegrams_rule_and_blanks_the_bots_own_copy(tmp_path, db_setting):
    async with allies(tmp_path, database=db_setting, schedule_recheck=0.2) as w:
        original, _ = await open_topic_with_a_telegram_post(w)
        w.dc.user_sends(w.thread["id"], w.jessica.dc, "A case from Lagos, told in confidence.")
        copy = (await w.until(lambda: [m for m in w.bot_messages() if "Lagos" in m["text"]]))[0]
        w.tg.age_messages(w.group["id"], hours=49)  # Telegram deletes nothing this old
        w.tg.user_sends(w.group["id"], w.kristin.tg, "/hide 3")
        await w.until(lambda: answers(w, "Post #3 by Jessica Okafor is hidden"))
        # The bot's own copy cannot be deleted any more, but it can be edited: its words go.
        shown = await w.until(lambda: next(m for m in w.tg.chat_messages(w.group["id"])
                                           if m["message_id"] == copy["message_id"]
                                           and "Lagos" not in m["text"]))
        assert shown["text"] == "[hidden by a facilitator]"
        # Brittany's own message: the bot is an admin, so the reason given is the 48 hours.
        w.tg.user_sends(w.group["id"], w.kristin.tg, "/hide 2")
        notice = (await w.until(lambda: answers(w, "48 hours")))[0]
        assert "make me an admin" not in notice and "author or an admin can delete it" in notice
        dead = [e for e in await w.runtime.store.outbox() if e.state is DeliveryState.DEAD]
        assert len(dead) == 1 and "older than 48 hours" in dead[0].last_error
        assert original["message_id"] in [m["message_id"] for m in w.tg.chat_messages(w.group["id"])]
