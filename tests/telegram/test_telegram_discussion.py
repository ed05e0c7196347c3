"""A facilitated discussion run from Telegram, mirrored between a forum and a plain group."""

from __future__ import annotations

from telegram.constants import ParseMode

from bridgebot.core.errors import PermanentError


async def open_topic_with_two_prompts(w):
    w.tg.user_sends(w.forum["id"], w.kristin.tg,
                    "/newtopic Engaging allies\nTell us about allies perceived as non traditional.")
    await w.settle()
    topic = w.tg.topics(w.forum["id"])[0]
    thread = topic["message_thread_id"]
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "/prompt How were these allies identified?",
                    thread_id=thread)
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "/prompt What was the impact?",
                    thread_id=thread)
    await w.settle()
    return thread


async def test_a_topic_opens_as_a_forum_topic_and_as_a_message_in_a_plain_group(world):
    w = world
    thread = await open_topic_with_two_prompts(w)
    assert w.tg.topics(w.forum["id"])[0]["name"] == "Engaging allies"
    in_forum = w.bot_messages(w.forum, thread)
    texts = [m["text"] for m in in_forum]
    assert texts[0].startswith("Engaging allies\n\nTell us about allies")
    assert "❓ Question 1\n\nHow were these allies identified?" in texts
    assert "❓ Question 2\n\nWhat was the impact?" in texts
    group_calls = w.sent(w.group)
    assert [c.params.get("message_thread_id") for c in group_calls] == [None, None, None]
    root_id = group_calls[0].response["result"]["message_id"]
    # In the plain group the questions answer the topic message, so the thread reads naturally.
    assert all(c.params["reply_parameters"]["message_id"] == root_id for c in group_calls[1:])
    assert all(c.params["parse_mode"] == ParseMode.HTML for c in group_calls)
    assert group_calls[0].params["text"].startswith("<b>Engaging allies</b>")


async def test_replies_become_posts_with_parents_and_are_mirrored_as_replies(world):
    w = world
    thread = await open_topic_with_two_prompts(w)
    group_prompt = w.message_id_of(w.group, "<b>Question 1")
    # Brittany answers question 1 in the plain group.
    original = w.tg.user_sends(w.group["id"], w.brittany.tg,
                               "Engaging governmental allies in Jordan\n\nHello everyone! <ANHRE> & co.",
                               reply_to=group_prompt)
    await w.settle()
    mirrored = w.sent(w.forum)[-1]
    assert mirrored.params["message_thread_id"] == thread
    forum_prompt = w.message_id_of(w.forum, "<b>Question 1")
    assert mirrored.params["reply_parameters"]["message_id"] == forum_prompt
    assert mirrored.params["text"] == (
        "<b>Brittany Landorf</b> · Telegram · #2\n<b>Engaging governmental allies in Jordan</b>"
        "\n\nHello everyone! &lt;ANHRE&gt; &amp; co."
    )
    assert "brittany_l" not in mirrored.params["text"]
    # Jessica replies to the mirror inside the forum topic: her post's parent is Brittany's.
    jessica_msg = w.tg.user_sends(w.forum["id"], w.jessica.tg, "Thanks for the Jordan example!",
                                  reply_to=mirrored.response["result"]["message_id"],
                                  thread_id=thread)
    # Someone writes in the topic without replying to anything: a top-level post.
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "Welcome, everyone.", thread_id=thread)
    await w.settle()
    posts = await w.runtime.store.posts(1)
    by_number = {p.number: p for p in posts}
    assert by_number[2].subject == "Engaging governmental allies in Jordan"
    assert by_number[3].parent_id == by_number[2].id and by_number[3].author_name == "Jessica Okafor"
    assert by_number[4].parent_id is None and by_number[4].text == "Welcome, everyone."
    # In the group, Jessica's reply answers Brittany's own original message.
    to_group = [c for c in w.sent(w.group) if "Thanks for the Jordan" in c.params["text"]]
    assert to_group[0].params["reply_parameters"]["message_id"] == original["message_id"]
    assert jessica_msg["message_id"] != original["message_id"]


async def test_an_edit_is_carried_to_the_mirror(world):
    w = world
    await open_topic_with_two_prompts(w)
    root = w.sent(w.group)[0].response["result"]["message_id"]
    msg = w.tg.user_sends(w.group["id"], w.brittany.tg, "Engineers are my peple", reply_to=root)
    await w.settle()
    w.tg.user_edits(w.group["id"], msg["message_id"], "Engineers are my people")
    await w.settle()
    edits = w.tg.calls_to("editMessageText")
    assert len(edits) == 1 and edits[0].params["chat_id"] == w.forum["id"]
    assert edits[0].params["text"].endswith("Engineers are my people")
    assert (await w.runtime.store.posts(1))[-1].text == "Engineers are my people"


async def test_a_photo_crosses_as_a_photo_with_its_caption(world):
    w = world
    await open_topic_with_two_prompts(w)
    root = w.sent(w.group)[0].response["result"]["message_id"]
    w.tg.user_sends_photo(w.group["id"], w.brittany.tg, caption="Our open day", reply_to=root)
    await w.settle()
    post = (await w.runtime.store.posts(1))[-1]
    assert post.text == "Our open day" and [a.kind for a in post.attachments] == ["photo"]
    [sent] = [c for c in w.tg.calls_to("sendPhoto") if c.params["chat_id"] == w.forum["id"]]
    assert sent.status == 200 and sent.params["caption"].endswith("Our open day")


async def test_locking_closes_the_forum_topic_and_refuses_late_replies_once(world):
    w = world
    thread = await open_topic_with_two_prompts(w)
    root = w.sent(w.group)[0].response["result"]["message_id"]
    w.tg.user_sends(w.group["id"], w.brittany.tg, "/lock", reply_to=root)
    await w.settle()
    refusal = w.sent(w.group)[-1]
    assert "for facilitators" in refusal.params["text"]
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "/lock Thank you all", thread_id=thread)
    await w.settle()
    assert w.tg.topics(w.forum["id"])[0]["is_closed"] is True
    assert any("Topic locked: Thank you all" in m["text"] for m in w.bot_messages(w.group))
    w.tg.user_sends(w.group["id"], w.jessica.tg, "Am I too late?", reply_to=root)
    w.tg.user_sends(w.group["id"], w.jessica.tg, "Hello?", reply_to=root)
    await w.settle()
    answers = [c for c in w.sent(w.group) if "is locked" in c.params["text"]]
    assert len(answers) == 1
    assert "no longer accepts posts" in answers[0].params["text"]
    assert [p.number for p in await w.runtime.store.posts(1)] == [1]
    w.tg.user_sends(w.forum["id"], w.kristin.tg, "/unlock", thread_id=thread)
    await w.settle()
    assert w.tg.topics(w.forum["id"])[0]["is_closed"] is False


async def test_commands_are_registered_with_facilitator_ones_for_admins_only(world):
    w = world
    everyone = {c["command"] for c in w.tg.commands("default")}
    admins = {c["command"] for c in w.tg.commands("all_chat_administrators")}
    assert everyone == {"status", "help", "reply", "catchup", "alias", "forgetme"}
    assert admins == {"status", "help", "reply", "catchup", "newtopic", "prompt", "lock", "unlock",
                      "hide", "unhide", "digest", "chatid", "alias", "forgetme", "editprompt",
                      "editintro", "who", "export"}


async def test_commands_addressed_with_the_bot_name_work_in_groups(world):
    w = world
    await open_topic_with_two_prompts(w)
    w.tg.user_sends(w.group["id"], w.jessica.tg, "/status@bridgebot_test_bot")
    w.tg.user_sends(w.group["id"], w.jessica.tg, "/status@SomeOtherBot")
    await w.settle()
    answers = [c.params["text"] for c in w.sent(w.group) if " new · " in c.params["text"]]
    assert len(answers) == 1 and "1 post / 1 new" in answers[0]


async def test_long_text_is_split_in_order_on_paragraphs(world):
    w = world
    await open_topic_with_two_prompts(w)
    root = w.sent(w.group)[0].response["result"]["message_id"]
    paragraphs = [f"Paragraph {i}: " + "word " * 150 for i in range(12)]
    w.tg.user_sends(w.group["id"], w.brittany.tg, "\n\n".join(paragraphs)[:4090], reply_to=root)
    w.tg.user_sends(w.group["id"], w.jessica.tg, "Short one", reply_to=root)
    await w.settle()
    # 4090 characters plus the author header exceed Telegram's 4096: two messages, in order.
    thread = w.tg.topics(w.forum["id"])[0]["message_thread_id"]
    mirrored = [m["text"] for m in w.bot_messages(w.forum, thread)]
    long_parts = [t for t in mirrored if "Paragraph" in t]
    assert len(long_parts) == 2
    assert all(len(t) <= 4096 for t in long_parts)
    assert long_parts[1].startswith("Paragraph ")
    assert mirrored[-1].endswith("Short one")


async def test_a_formatting_slip_is_retried_once_as_plain_text(world):
    w = world
    await open_topic_with_two_prompts(w)
    root = w.sent(w.group)[0].response["result"]["message_id"]
    w.tg.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unexpected end tag")
    w.tg.user_sends(w.group["id"], w.brittany.tg, "Fine <i>text</i>", reply_to=root)
    await w.settle()
    last = w.sent(w.forum)[-1]
    assert "parse_mode" not in last.params
    assert last.params["text"].endswith("Fine <i>text</i>")


async def test_a_chat_that_removed_the_bot_is_dead_lettered_and_the_rest_carries_on(world):
    w = world
    await open_topic_with_two_prompts(w)
    root = w.sent(w.group)[0].response["result"]["message_id"]
    thread = w.tg.topics(w.forum["id"])[0]["message_thread_id"]
    w.tg.remove_bot(w.group["id"])
    w.tg.user_sends(w.forum["id"], w.jessica.tg, "Still here", thread_id=thread)
    await w.settle()
    dead = await w.runtime.store.outbox()
    dead = [d for d in dead if d.state.value == "dead"]
    assert len(dead) == 1 and "kicked" in dead[0].last_error
    w.tg.user_sends(w.forum["id"], w.jessica.tg, "/status", thread_id=thread)
    await w.settle()
    assert "2 posts" in w.sent(w.forum)[-1].params["text"]
    assert root


async def test_a_wrong_token_is_reported_clearly(world, tmp_path, database):
    from bridgebot.core.service import Discussions
    from bridgebot.sandbox.clients import telegram_adapter
    from bridgebot.store import open_database, storage_for

    bad = telegram_adapter(world.tg, "999:not-a-real-token")
    db = open_database(database(tmp_path / "x.sqlite3"))
    await db.open()
    try:
        core = Discussions(storage_for(db), [])
        try:
            await bad.start(core)
        except PermanentError as err:
            assert "refused the bot token" in str(err)
            assert "not-a-real-token" not in str(err)
        else:
            raise AssertionError("a wrong token must stop the adapter")
    finally:
        await db.close()


async def test_forgetme_renames_a_forum_topic_whose_title_named_her(world):
    w = world
    w.tg.user_sends(w.forum["id"], w.kristin.tg,
                    "/newtopic What Brittany Landorf saw in Jordan\nTell us more.")
    await w.settle()
    thread = w.tg.topics(w.forum["id"])[0]["message_thread_id"]
    w.tg.user_sends(w.forum["id"], w.brittany.tg, "Allies in the ministry.", thread_id=thread)
    await w.settle()
    w.tg.user_sends(w.forum["id"], w.brittany.tg, "/forgetme", thread_id=thread)
    await w.settle()
    w.tg.user_sends(w.forum["id"], w.brittany.tg, "/forgetme confirm", thread_id=thread)
    await w.until(lambda: [m for m in w.bot_messages(w.forum, thread)
                           if m["text"].startswith("Done: I have forgotten you")])
    await w.settle()
    assert w.tg.topics(w.forum["id"])[0]["name"] == "What Former participant 1 saw in Jordan"
    assert not [m for m in w.bot_messages(w.group) if "Landorf" in m["text"]]
