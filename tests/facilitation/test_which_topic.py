"""Two topics open in one plain group or Discord channel: a command that names neither asks
which one (listing them) instead of acting on the newest, and takes the topic's number."""

from __future__ import annotations


async def two_topics_in_the_telegram_group(w):
    for title in ("Engaging allies", "Naming the harm"):
        w.tg.user_sends(w.group["id"], w.kristin.tg, f"/newtopic {title}\nShare your examples.")
        await w.settle()


async def test_lock_in_a_plain_group_with_two_open_topics_asks_which_one(build):
    w = await build(telegram=("group",), discord=())
    await two_topics_in_the_telegram_group(w)

    w.tg.user_sends(w.group["id"], w.kristin.tg, "/lock")
    await w.settle()
    asked = w.bot_texts()[-1]
    assert asked.startswith("Several topics are open here, so I did not guess")
    assert "#2 “Naming the harm”" in asked and "#1 “Engaging allies”" in asked
    assert "/lock 2" in asked
    assert not any(t.is_locked for t in await w.runtime.store.topics())

    w.tg.user_sends(w.group["id"], w.kristin.tg, "/lock 1 Thank you all")
    await w.settle()
    first, second = await w.runtime.store.topics()
    assert first.is_locked and first.lock_reason == "Thank you all"
    assert not second.is_locked
    assert "“Engaging allies” is now locked." in w.bot_texts()


async def test_prompt_without_a_reply_asks_and_a_reply_to_the_topic_says_which(build):
    w = await build(telegram=("group",), discord=())
    await two_topics_in_the_telegram_group(w)
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/prompt 3 ways allies helped?")
    await w.settle()
    assert w.bot_texts()[-1].startswith("Several topics are open here")
    assert await w.runtime.store.prompts(1) == await w.runtime.store.prompts(2) == []

    root = w.message_id_of(w.group, "<b>Engaging allies</b>")
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/prompt 3 ways allies helped?", reply_to=root)
    await w.settle()
    [prompt] = await w.runtime.store.prompts(1)
    assert prompt.question == "3 ways allies helped?", "a number that names no topic stays text"


async def test_one_open_topic_is_the_one_even_with_a_locked_one_beside_it(build):
    w = await build(telegram=("group",), discord=())
    await two_topics_in_the_telegram_group(w)
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/lock 2")
    await w.settle()
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/prompt Who took the first step?")
    await w.settle()
    assert [p.question for p in await w.runtime.store.prompts(1)] == ["Who took the first step?"]
    w.tg.user_sends(w.group["id"], w.kristin.tg, "/unlock")
    await w.settle()
    assert "“Naming the harm” is now open." in w.bot_texts()


async def test_lock_in_a_discord_channel_with_two_open_topics_asks_which_one(build):
    w = await build(telegram=(), discord=("channel",))
    for title in ("Engaging allies", "Naming the harm"):
        answer = await w.slash(w.kristin.dc, "newtopic", w.channel["id"], title=title,
                               intro="Share your examples.")
        assert "is open" in answer["content"]

    asked = await w.slash(w.kristin.dc, "lock", w.channel["id"])
    assert asked["content"].startswith("Several topics are open here")
    assert "/lock topic:2" in asked["content"]
    assert not any(t.is_locked for t in await w.runtime.store.topics())

    answer = await w.slash(w.kristin.dc, "lock", w.channel["id"], topic=1)
    assert answer["content"] == "“Engaging allies” is now locked."
    first, second = await w.runtime.store.topics()
    assert first.is_locked and not second.is_locked
    # Inside a topic's thread the thread says which.
    second_thread = w.dc.threads(w.channel["id"])[1]
    answer = await w.slash(w.kristin.dc, "lock", second_thread["id"])
    assert answer["content"] == "“Naming the harm” is now locked."
