"""A facilitator's tools for a week-long discussion, on Telegram and Discord through the real
adapters: rewording a guiding question or the introduction (every copy and the archive follow)
and seeing who has taken part."""

from __future__ import annotations

from bridgebot.core.export import load_archive, to_html


async def archive_html(w) -> str:
    archive = await load_archive(w.runtime.store, 1, w.runtime.platforms)
    assert archive is not None
    return to_html(archive)


def discord_starter(w) -> str:
    """The topic message in #allies (the starter of the topic's thread)."""
    return w.dc.channel_messages(w.channel["id"])[0]["content"]


async def test_editing_the_prompt_message_rewords_the_question_everywhere(bridged):
    w = bridged
    asked = w.tg.user_sends(w.group["id"], w.kristin.tg, "/prompt How were these allies identified?",
                            reply_to=w.root["message_id"])
    await w.settle()
    await w.until(lambda: any("identified" in t for t in w.discord_texts()))

    w.tg.user_edits(w.group["id"], asked["message_id"], "/prompt How did you first find these allies?")
    await w.settle()
    [prompt] = await w.runtime.store.prompts(1)
    assert prompt.question == "How did you first find these allies?"
    question_copies = [t for t in w.bot_texts() if t.startswith("❓ Question 1")]
    assert question_copies == ["❓ Question 1\n\nHow did you first find these allies?"]
    await w.until(lambda: any("first find these allies" in t for t in w.discord_texts()))
    assert not any("identified" in t for t in w.discord_texts())
    assert "How did you first find these allies?" in await archive_html(w)
    # A reply to the facilitator's own /prompt message answers that question.
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Through a lawyers' network.",
                    reply_to=asked["message_id"])
    await w.settle()
    posts = await w.posts(2)
    assert posts[-1].prompt_id == prompt.id


async def test_editing_the_newtopic_message_changes_title_and_introduction(build):
    w = await build(telegram=("group",), discord=("channel",))
    opened = w.tg.user_sends(w.group["id"], w.kristin.tg, "/newtopic Engaging allies\nShare them.")
    await w.settle()
    await w.until(lambda: w.dc.threads(w.channel["id"]))
    w.tg.user_edits(w.group["id"], opened["message_id"],
                    "/newtopic Engaging allies\nShare your examples of non-traditional allies.")
    await w.settle()
    topic = await w.runtime.store.topic(1)
    assert topic.introduction == "Share your examples of non-traditional allies."
    [root] = [t for t in w.bot_texts() if t.startswith("Engaging allies\n\n")]
    assert "Share your examples of non-traditional allies." in root and "Share them." not in root
    await w.until(lambda: "non-traditional allies" in discord_starter(w))
    assert "Share them." not in discord_starter(w)


async def test_editintro_from_telegram_replaces_the_introduction_on_every_copy(bridged):
    w = bridged
    w.tg.user_sends(w.group["id"], w.kristin.tg,
                    "/editintro Consider these questions below.\n\nThen share your examples.",
                    reply_to=w.root["message_id"])
    await w.settle()
    assert w.bot_texts()[-1] == ("The introduction of “Engaging allies” was replaced on every "
                                 "linked chat and in the archive.")
    [root] = [m for m in w.bot_messages() if m["message_id"] == w.root["message_id"]]
    assert "Consider these questions below." in root["text"] and "Share your examples." not in root["text"]
    await w.until(lambda: "Consider these questions below." in discord_starter(w))
    assert "Consider these questions below." in await archive_html(w)


async def test_a_participant_cannot_edit_the_introduction(bridged):
    w = bridged
    w.tg.user_sends(w.group["id"], w.brittany.tg, "/editintro Mine now.", reply_to=w.root["message_id"])
    await w.settle()
    assert w.bot_texts()[-1].startswith("Sorry, /editintro is for facilitators")
    assert (await w.runtime.store.topic(1)).introduction == "Share your examples."


async def test_editprompt_from_discord_rewords_the_question_on_both_platforms(bridged):
    w = bridged
    answer = await w.slash(w.kristin.dc, "prompt", question="How were these allies identified?")
    assert "Question 1 added" in answer["content"]
    await w.settle()
    answer = await w.slash(w.kristin.dc, "editprompt", number=1,
                           question="Who were these allies, and how did you find them?")
    assert answer["content"].startswith("Question 1 of “Engaging allies” now reads")
    await w.until(lambda: any("how did you find them" in t for t in w.discord_texts()))
    assert not any("identified" in t for t in w.discord_texts())
    await w.settle()
    assert "❓ Question 1\n\nWho were these allies, and how did you find them?" in w.bot_texts()
    assert not any("identified" in t for t in w.bot_texts())
    answer = await w.slash(w.kristin.dc, "editprompt", number=4, question="Anything?")
    assert answer["content"] == "“Engaging allies” has no question 4."


async def test_editintro_from_discord_edits_the_starter_and_the_telegram_topic(bridged):
    w = bridged
    answer = await w.slash(w.kristin.dc, "editintro", intro="Tell us about unlikely allies.")
    assert answer["content"].startswith("The introduction of “Engaging allies” was replaced")
    await w.until(lambda: "unlikely allies" in discord_starter(w))
    await w.settle()
    [root] = [m for m in w.bot_messages() if m["message_id"] == w.root["message_id"]]
    assert "Tell us about unlikely allies." in root["text"]


async def test_who_lists_participants_with_posts_and_platforms_on_both(bridged):
    w = bridged
    root = w.root["message_id"]
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan", reply_to=root)
    w.tg.user_sends(w.group["id"], w.brittany.tg, "And one from Egypt", reply_to=root)
    await w.settle()
    w.dc.user_sends(w.thread["id"], w.jessica.dc, "In Nigeria we worked with clerics")
    await w.posts(4)
    await w.until(lambda: any("with clerics" in t for t in w.bot_texts()))  # mirrored first

    w.tg.user_sends(w.group["id"], w.kristin.tg, "/who", reply_to=root)
    await w.settle()
    assert w.bot_texts()[-1] == ("“Engaging allies”: 2 participants · 3 posts\n"
                                 "• Brittany Landorf (Telegram): 2 posts\n"
                                 "• Jessica Okafor (Discord): 1 post")
    answer = await w.slash(w.kristin.dc, "who")
    assert answer["flags"] & 64, "only the facilitator sees it"
    assert answer["content"].splitlines()[1:] == ["• Brittany Landorf (Telegram): 2 posts",
                                                  "• Jessica Okafor (Discord): 1 post"]
    w.tg.user_sends(w.group["id"], w.brittany.tg, "/who", reply_to=root)
    await w.settle()
    assert w.bot_texts()[-1].startswith("Sorry, /who is for facilitators")


async def test_who_shows_pseudonyms_where_the_bridge_does(build):
    w = await build(authors="pseudonym", open_topic=True)
    w.tg.user_sends(w.group["id"], w.brittany.tg, "An example from Jordan",
                    reply_to=w.root["message_id"])
    await w.settle()
    answer = await w.slash(w.kristin.dc, "who")
    assert answer["content"] == ("“Engaging allies”: 1 participant · 1 post\n"
                                 "• Participant 1 (Telegram): 1 post")
    assert "Brittany" not in answer["content"]


async def test_a_new_title_renames_the_forum_topic_and_the_discord_thread(build):
    w = await build(telegram=("forum",), discord=("channel",))
    opened = w.tg.user_sends(w.forum["id"], w.kristin.tg, "/newtopic Engaging allies\nShare them.")
    await w.settle()
    await w.until(lambda: w.dc.threads(w.channel["id"]))
    w.tg.user_edits(w.forum["id"], opened["message_id"],
                    "/newtopic Engaging non-traditional allies\nShare them.")
    await w.settle()
    assert (await w.runtime.store.topic(1)).title == "Engaging non-traditional allies"
    assert w.tg.topics(w.forum["id"])[0]["name"] == "Engaging non-traditional allies"
    await w.until(lambda: w.dc.threads(w.channel["id"])[0]["name"]
                  == "Engaging non-traditional allies")
    assert discord_starter(w).startswith("## Engaging non-traditional allies")


async def test_the_introduction_of_a_locked_topic_can_still_be_corrected(bridged):
    w = bridged
    await w.slash(w.kristin.dc, "lock")
    await w.settle()
    answer = await w.slash(w.kristin.dc, "editintro", intro="Corrected: share your examples.")
    assert answer["content"].startswith("The introduction of “Engaging allies” was replaced")
    await w.until(lambda: "Corrected: share your examples." in discord_starter(w))
    assert w.dc.threads(w.channel["id"])[0]["thread_metadata"]["archived"], "archived again"
    await w.settle()
    [root] = [m for m in w.bot_messages() if m["message_id"] == w.root["message_id"]]
    assert "Corrected: share your examples." in root["text"]
