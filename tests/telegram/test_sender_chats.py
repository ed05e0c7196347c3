"""Messages Telegram sends "on behalf of a chat" (Bot API: ``sender_chat``, with a placeholder
user in ``from``): an anonymous administrator writes as the group itself, and may facilitate,
since only administrators can; a person writing "as" their channel posts under the channel's
title. Neither vanishes as if a bot had written it."""

from __future__ import annotations

from bridgebot.sandbox.telegram.driver import CHANNEL_BOT, GROUP_ANONYMOUS_BOT

from ..auxil.world import World


async def test_an_anonymous_administrator_facilitates_and_posts_as_the_group(bridged: World):
    w = bridged
    group = w.group["id"]
    asked = w.tg.user_sends_as(group, w.kristin.tg, group, "/prompt What changed afterwards?")
    assert asked["from"] == GROUP_ANONYMOUS_BOT and asked["sender_chat"]["id"] == group
    await w.settle()
    assert any("Question 1 added" in t for t in w.bot_texts())
    prompts = await w.runtime.store.prompts(1)
    assert [p.question for p in prompts] == ["What changed afterwards?"]
    w.tg.user_sends_as(group, w.kristin.tg, group, "Speaking for the organisers.",
                       reply_to=w.root["message_id"], signature="Organisers")
    copy = (await w.until(lambda: [m for m in w.discord_mirrors()
                                   if "Speaking for the organisers." in m["content"]]))[0]
    assert copy["author"]["username"] == "Organisers · Telegram"
    assert "Kristin" not in str(copy)


async def test_a_post_sent_as_a_channel_is_a_post_under_the_channels_title(bridged: World):
    w = bridged
    channel = w.tg.add_channel("Jordan Allies Network", w.brittany.tg)
    sent = w.tg.user_sends_as(w.group["id"], w.brittany.tg, channel["id"],
                              "News from our network.", reply_to=w.root["message_id"])
    assert sent["from"] == CHANNEL_BOT and sent["sender_chat"]["type"] == "channel"
    copy = (await w.until(lambda: [m for m in w.discord_mirrors()
                                   if "News from our network." in m["content"]]))[0]
    assert copy["author"]["username"] == "Jordan Allies Network · Telegram"
    assert "Brittany" not in str(copy)
    # A channel is nobody's administrator: it may take part, not facilitate.
    w.tg.user_sends_as(w.group["id"], w.brittany.tg, channel["id"], "/prompt Who are you?")
    await w.settle()
    assert await w.runtime.store.prompts(1) == []
    assert any("for facilitators" in t for t in w.bot_texts())
