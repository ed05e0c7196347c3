"""Participants on Telegram and Discord: a message replying to nothing in a plain group with one
open topic is a post in it; elsewhere the bot says once how to take part; posting moves one's
reading mark; /help speaks each platform's syntax; text that reads as a command is never a post."""

from __future__ import annotations

HOW = "This message is not part of the discussion. To take part, reply to the topic's message"


async def test_a_message_replying_to_nothing_is_a_post_in_the_only_open_topic(bridged):
    w = bridged
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan")
    await w.settle()
    posts = await w.posts(2)
    assert posts[-1].text == "An example from Jordan" and posts[-1].parent_id is None
    await w.until(lambda: any("An example from Jordan" in m["content"] for m in w.discord_mirrors()))
    assert not any(t.startswith(HOW) for t in w.bot_texts())


async def test_with_the_setting_off_the_bot_explains_once_per_person(build):
    w = await build(single_topic_posts=False, open_topic=True)
    for text in ("An example from Jordan", "And another one"):
        w.tg.user_sends(w.group["id"], w.brittany.tg, text)
    w.tg.user_sends(w.group["id"], w.jessica.tg, "Hello all")
    await w.settle()
    assert len(await w.runtime.store.posts(1)) == 1, "only the opening post"
    told = [m for m in w.bot_messages() if m["text"].startswith(HOW)]
    assert len(told) == 2, "once for Brittany, once for Jessica"
    assert {m["reply_to_message"]["text"] for m in told} == {"An example from Jordan", "Hello all"}


async def test_with_two_open_topics_a_message_replying_to_nothing_is_explained(build):
    w = await build(telegram=("group",), discord=())
    for title in ("Engaging allies", "Naming the harm"):
        w.tg.user_sends(w.group["id"], w.kristin.tg, f"/newtopic {title}\nShare your examples.")
        await w.settle()
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Which one is this for?")
    await w.settle()
    assert w.bot_texts()[-1].startswith(HOW)
    assert [len(await w.runtime.store.posts(t)) for t in (1, 2)] == [1, 1]


async def test_a_message_in_the_discord_channel_outside_threads_is_explained_once(bridged):
    w = bridged
    for text in ("Hi, where do I write?", "Hello?"):
        w.dc.user_sends(w.channel["id"], w.brittany.dc, text)
    await w.until(lambda: any(m["content"].startswith(HOW)
                              for m in w.dc.channel_messages(w.channel["id"])))
    await w.settle()
    told = [m for m in w.dc.channel_messages(w.channel["id"]) if m["content"].startswith(HOW)]
    assert len(told) == 1
    assert len(await w.runtime.store.posts(1)) == 1


async def test_posting_moves_the_reading_mark_on_both_platforms(bridged):
    w = bridged
    root = w.root["message_id"]
    w.tg.user_sends(w.group["id"], w.jessica.tg, "An example from Lagos", reply_to=root)
    w.tg.user_sends(w.group["id"], w.jessica.tg, "And from Abuja", reply_to=root)
    await w.settle()
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "One from Jordan")
    await w.posts(4)
    answer = await w.slash(w.brittany.dc, "status")
    assert "4 posts / 0 new" in answer["content"]

    w.tg.user_sends(w.group["id"], w.jessica.tg, "A question for Brittany", reply_to=root)
    await w.settle()
    await w.posts(5)
    answer = await w.slash(w.brittany.dc, "status")
    assert "5 posts / 1 new" in answer["content"]
    # On Telegram too: Jessica's own post marks what came before it as read.
    w.tg.user_sends(w.group["id"], w.jessica.tg, "/status", reply_to=root)
    await w.settle()
    [status] = [t for t in w.bot_texts() if t.startswith("“Engaging allies” (topic #1)")]
    assert "5 posts / 0 new" in status


async def test_help_speaks_each_platforms_syntax(bridged):
    w = bridged
    handle = w.dc.invoke_command(w.brittany.dc, w.guild["id"], w.thread["id"], "help", {})
    await handle.response(timeout=5)  # /help answers in the response itself
    discord_help = handle.original["content"]
    assert "slash commands" in discord_help
    assert "/reply N text" not in discord_help and "<title>" not in discord_help
    assert "Write in the topic's thread" in discord_help
    w.tg.user_sends(w.group["id"], w.brittany.tg, "/help")
    await w.settle()
    telegram_help = w.bot_texts()[-1]
    assert "/reply N text" in telegram_help and "slash commands" not in telegram_help
    assert "/editprompt N <question>" in telegram_help


async def test_a_discord_text_that_reads_as_a_command_is_never_a_post(bridged):
    w = bridged
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "/status")
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "/frobnicate now")
    w.dc.user_sends(w.thread["id"], w.brittany.dc, "A real answer")
    await w.posts(2)
    await w.settle()
    assert [p.text for p in await w.runtime.store.posts(1)][1:] == ["A real answer"]
    answers = [m["content"] for m in w.dc.channel_messages(w.thread["id"])
               if m["author"].get("bot") and not m.get("webhook_id")]
    assert ("On Discord, commands are slash commands: type /status and choose it from the list "
            "Discord shows. This message was not posted to the discussion.") in answers
    assert "I don't know /frobnicate. /help lists what I understand." in answers
    assert not any("/status" in t for t in w.bot_texts()), "nothing reached Telegram"
