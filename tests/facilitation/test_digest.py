"""Digests: what happened since the last one, posted as an escaped bot notice everywhere."""

from __future__ import annotations

import html

from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.digest import prepare_digest

from ..auxil.world import FACILITATOR, FORUM, LOUNGE, allies, person
from ..test_seed_discussion import replay_seed

SEED_DIGEST = """\
📋 Digest: “How have you engaged allies perceived as non traditional? Share your examples!”
8 new posts since the last digest (9 in all).
New posts per question:
• Question 1 (Share examples of times that you’ve engaged allies…): 6
• Question 2 (What challenges did you face? How were you…): 1
• Question 3 (What was the impact?): 1
Most-replied threads:
• #4 “Science and Technology for Human Rights” by Jessica(2): 2 replies
New participants: Brittany Landorf, Kristin Antin, Jessica(2), Jessica, Women Peacemakers \
Program, Activist, Philippines, Practitioner, Sri Lanka. Welcome!"""


async def test_the_seed_discussion_digest_counts_questions_threads_and_newcomers(runtime, console):
    topic_id = await replay_seed(runtime, console, lock=False)
    topic = await runtime.store.topic(topic_id)
    digest = await prepare_digest(runtime.core, topic)
    assert digest.text == SEED_DIGEST
    assert digest.upto_number == 9 and digest.new_posts == 8


async def test_digest_posts_to_every_room_and_the_next_one_counts_from_there(runtime, console):
    topic_id = await replay_seed(runtime, console, lock=False)
    ctx = CommandContext(FACILITATOR, FORUM, platform_admin=True)
    answer = await run_command(runtime.core, ctx, "digest", "")
    assert answer.startswith("Digest of “How have you engaged allies") and "(8 new posts" in answer
    await runtime.drain()
    for room in ("forum", "lounge"):
        assert console.visible(room)[-1].text == SEED_DIGEST
    prompts = await runtime.store.prompts(topic_id)
    third = (await runtime.store.messages_on(LOUNGE, prompt_id=prompts[2].id))[0]
    await console.say("lounge", person("Newcomer"), "An example from Kenya.", reply_to=third)
    await runtime.drain()
    await run_command(runtime.core, ctx, "digest", "")
    await runtime.drain()
    second = console.visible("forum")[-1].text
    assert "1 new post since the last digest (10 in all)." in second
    assert "• Question 3 (What was the impact?): 1" in second
    assert "New participants: Newcomer. Welcome!" in second
    assert "Question 1" not in second


async def test_only_facilitators_post_digests_and_not_for_locked_topics(runtime, console):
    await replay_seed(runtime, console, lock=True)
    participant = CommandContext(person("Jessica"), FORUM)
    assert (await run_command(runtime.core, participant, "digest", "")).startswith(
        "Sorry, /digest is for facilitators")
    ctx = CommandContext(FACILITATOR, FORUM, platform_admin=True)
    assert "is locked: its archive" in await run_command(runtime.core, ctx, "digest", "")


async def test_a_digest_reaches_telegram_and_discord_escaped_and_without_mentions(tmp_path, db_setting):
    async with allies(tmp_path, database=db_setting, schedule_recheck=0.2) as w:
        w.tg.user_sends(w.group["id"], w.kristin.tg, "/newtopic Engaging allies\nShare examples.")
        await w.until(lambda: w.dc.threads(w.channel["id"]))
        root = next(m for m in w.tg.chat_messages(w.group["id"])
                    if m.get("text", "").startswith("Engaging allies"))
        w.tg.user_sends(w.group["id"], w.brittany.tg, "<b>Bold</b> **claims** @everyone\n\nBody.",
                        reply_to=root["message_id"])
        mirror = (await w.until(lambda: [m for m in w.dc.channel_messages(w.thread["id"])
                                         if m.get("webhook_id")]))[0]
        w.dc.user_sends(w.thread["id"], w.jessica.dc, "Agreed.", reply_to=mirror["id"])
        await w.until(lambda: [t for t in w.bot_texts() if "Agreed." in t])
        w.tg.user_sends(w.group["id"], w.kristin.tg, "/digest")
        await w.until(lambda: [t for t in w.bot_texts() if t.startswith("📋 Digest")])
        sent = next(c for c in w.tg.calls_to("sendMessage") if c.params["text"].startswith("📋"))
        assert "“&lt;b&gt;Bold&lt;/b&gt; **claims** @everyone” by Brittany Landorf: 1 reply" in \
            sent.params["text"]
        assert sent.params["reply_parameters"]["message_id"] == root["message_id"]
        notice = (await w.until(lambda: [m for m in w.dc.channel_messages(w.thread["id"])
                                         if m["content"].startswith("📋 Digest")]))[0]
        assert r"<b>Bold</b> \*\*claims\*\* @everyone" in notice["content"]
        assert notice["mention_everyone"] is False
        posted = [c for c in w.dc.calls_to("POST", r"/channels/\d+/messages$")
                  if "Digest" in (c.json or {}).get("content", "")]
        assert posted[0].json["allowed_mentions"] == {"parse": []}
        assert "New participants: Brittany Landorf, Jessica Okafor. Welcome!" in html.unescape(
            sent.params["text"])
