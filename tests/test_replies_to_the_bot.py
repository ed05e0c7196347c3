"""A reply to one of the bot's own messages about a topic (its confirmation that the topic is
open, that a question was added, a /status answer) is a reply to that topic: a post, carried
to the other chats like any other, never silently dropped."""

from __future__ import annotations

from typing import Any

from .auxil.world import World


def bot_message(w: World, containing: str) -> dict[str, Any]:
    return next(m for m in reversed(w.bot_messages()) if containing in m["text"])


async def test_replies_to_the_bots_telegram_answers_are_posts(bridged):
    w = bridged
    opened = bot_message(w, "is open on every linked chat")
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Allies in Jordan, in reply to the "
                    "confirmation.", reply_to=opened["message_id"])
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/prompt What was the impact?")
    await w.settle()
    added = bot_message(w, "Question 1 added")
    w.tg.user_sends(w.group["id"], w.jessica.tg, "The impact was large.",
                    reply_to=added["message_id"])
    w.tg.user_sends(w.group["id"], w.quiet.tg, "/status")
    await w.settle()
    status = bot_message(w, " new · last post by")
    w.tg.user_sends(w.group["id"], w.quiet.tg, "Quietly, after my status.",
                    reply_to=status["message_id"])
    await w.settle()
    posts = await w.posts(4)
    assert [p.text for p in posts[1:]] == ["Allies in Jordan, in reply to the confirmation.",
                                         "The impact was large.", "Quietly, after my status."]
    mirrored = await w.until(lambda: [m["content"] for m in w.discord_mirrors()]
                             if len(w.discord_mirrors()) >= 3 else None)
    assert any("Quietly, after my status." in c for c in mirrored)


async def test_a_reply_to_the_topic_message_in_the_discord_channel_is_a_post(bridged):
    w = bridged
    starter = w.dc.channel_messages(w.channel["id"])[0]
    assert starter["content"].startswith("## Engaging allies")
    w.dc.user_sends(w.channel["id"], w.jessica.dc, "Answering the topic from the channel.",
                    reply_to=starter["id"])
    copy = await w.until(lambda: [m for m in w.bot_messages()
                                  if "Answering the topic" in m.get("text", "")])
    assert copy[0]["text"].startswith("Jessica Okafor · Discord")


async def test_a_discord_slash_reply_is_shown_on_discord_too(bridged):
    """Discord shows a slash command only to the person who ran it (the ephemeral "Posted as
    #3"): without a copy, the people in the thread never see the post."""
    w = bridged
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan.",
                    reply_to=w.root["message_id"])
    await w.until(lambda: w.discord_mirrors())
    answer = await w.slash(w.jessica.dc, "reply", number=2, text="Answered by number from Discord.")
    assert answer["content"] == "Posted as #3." and answer["flags"] & 64
    in_thread = await w.until(lambda: [m for m in w.discord_mirrors()
                                       if "Answered by number" in m["content"]])
    on_telegram = await w.until(lambda: [m for m in w.bot_messages()
                                         if "Answered by number" in m.get("text", "")])
    await w.settle()
    assert len(in_thread) == 1 and len(on_telegram) == 1
    assert in_thread[0]["author"]["username"].startswith("Jessica Okafor")
    assert on_telegram[0]["text"].startswith("Jessica Okafor · Discord · #3")
