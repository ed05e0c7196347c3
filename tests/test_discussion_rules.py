"""Who may do what in a topic, and what becomes of replies, edits and deletions."""

from __future__ import annotations

from datetime import UTC, datetime

from bridgebot.core.commands import CommandContext, parse_command, run_command
from bridgebot.core.models import Author, ChannelRef, IncomingMessage, TopicStatus
from bridgebot.store.repo import Store

from .auxil.world import FACILITATOR, FORUM, LOUNGE, person


async def open_topic(runtime, title="Engaging allies", intro="Tell us about your allies."):
    ctx = CommandContext(FACILITATOR, FORUM)
    await run_command(runtime.core, ctx, "newtopic", f"{title}\n{intro}")
    await runtime.drain()
    return await runtime.store.latest_topic("allies")


async def test_a_participant_is_told_politely_that_opening_topics_is_for_facilitators(runtime):
    answer = await run_command(runtime.core, CommandContext(person("Brittany"), FORUM),
                               "newtopic", "My own topic")
    assert answer.startswith("Sorry, /newtopic is for facilitators")
    assert await runtime.store.topics() == []


async def test_a_chat_admin_may_facilitate_without_being_configured(runtime):
    admin = person("Chat Admin")
    answer = await run_command(runtime.core, CommandContext(admin, FORUM, platform_admin=True),
                               "newtopic", "Admin topic")
    assert "is open" in answer


async def test_topic_and_prompts_appear_in_every_linked_room(runtime, console):
    await open_topic(runtime)
    await run_command(runtime.core, CommandContext(FACILITATOR, LOUNGE), "prompt",
                      "What challenges did you face?")
    await runtime.drain()
    for room in ("forum", "lounge"):
        texts = [s.text for s in console.visible(room)]
        assert texts[0].startswith("Topic #1: Engaging allies\nTell us about your allies.")
        assert texts[1] == "Question 1: What challenges did you face?"


async def test_a_reply_to_a_locked_topic_is_refused_and_its_author_told_once(runtime, console):
    await open_topic(runtime)
    _, first = await console.say("forum", person("Brittany"), "An early example")
    assert first.post is not None
    await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "lock", "Thank you all")
    await runtime.drain()
    _, late = await console.say("lounge", person("Late Comer"), "Am I too late?")
    _, later = await console.say("lounge", person("Late Comer"), "Hello?")
    assert late.refused_locked and late.notify_locked
    assert later.refused_locked and not later.notify_locked
    posts = await runtime.store.posts(first.topic.id)
    assert [p.text for p in posts] == ["Tell us about your allies.", "An early example"]
    assert "Topic locked: Thank you all" in [s.text for s in console.visible("forum")]
    # The lock notice is a topic message: answering it is refused too, not lost silently.
    notice = next(s for s in console.visible("lounge") if s.text.startswith("Topic locked"))
    _, answer = await console.say("lounge", person("Other"), "reply", reply_to=notice.message_id)
    assert answer.refused_locked


async def test_unlocking_lets_people_post_again(runtime, console):
    await open_topic(runtime)
    ctx = CommandContext(FACILITATOR, FORUM)
    await run_command(runtime.core, ctx, "lock", "")
    assert "already locked" in await run_command(runtime.core, ctx, "lock", "")
    assert "now open" in await run_command(runtime.core, ctx, "unlock", "")
    _, outcome = await console.say("forum", person("Brittany"), "Back again")
    assert outcome.post is not None and outcome.post.number == 2


async def test_a_message_delivered_twice_is_recorded_once(runtime):
    topic = await open_topic(runtime)
    opening = (await runtime.store.posts(topic.id))[0]
    root = (await runtime.store.messages_on(FORUM, post_id=opening.id))[0]
    message = IncomingMessage(FORUM, "tg-77", person("Jessica"), "Engineers are my people",
                              datetime.now(UTC), reply_to_message_id=root)
    first = await runtime.core.receive(message)
    again = await runtime.core.receive(message)
    assert not first.duplicate and again.duplicate
    assert again.post.id == first.post.id
    assert len(await runtime.store.posts(topic.id)) == 2
    await runtime.drain()
    outbox = await runtime.store.outbox()
    assert sum(1 for e in outbox if e.action.value == "post") == 1


async def test_an_edit_updates_the_post_and_its_mirror_and_keeps_history(runtime, console):
    await open_topic(runtime)
    shown, outcome = await console.say("forum", person("Jessica"), "Engineers are my peple")
    await runtime.drain()
    edited = await runtime.core.edit(FORUM, shown.message_id, "Engineers are my people")
    await runtime.drain()
    assert edited.text == "Engineers are my people" and edited.edited_at is not None
    assert edited.created_at == outcome.post.created_at
    mirror = [s.text for s in console.visible("lounge")]
    assert "#2 Engineers are my people" in mirror
    rows = await runtime.db.fetch("SELECT text FROM post_history")
    assert [r[0] for r in rows] == ["Engineers are my peple"]


async def test_deleting_the_original_hides_the_post_everywhere(runtime, console):
    topic = await open_topic(runtime)
    shown, _ = await console.say("forum", person("Jessica"), "Please remove this")
    await runtime.drain()
    assert any(s.text.endswith("Please remove this") for s in console.visible("lounge"))
    await runtime.core.removed(FORUM, shown.message_id)
    await runtime.drain()
    assert not any(s.text.endswith("Please remove this") for s in console.visible("lounge"))
    assert len(await runtime.store.posts(topic.id)) == 1
    hidden = await runtime.store.posts(topic.id, include_hidden=True)
    assert hidden[-1].hidden


async def test_reply_by_number_threads_under_that_post(runtime, console):
    await open_topic(runtime)
    await console.say("forum", person("Brittany"), "Jordan example")
    answer = await run_command(runtime.core, CommandContext(person("Kristin"), LOUNGE),
                               "reply", "2 Thanks for the Jordan example")
    assert answer == "Posted as #3."
    await runtime.drain()
    forum = {s.message_id: s for s in console.visible("forum")}
    mirrored = next(s for s in forum.values() if "Thanks for the Jordan" in s.text)
    assert forum[mirrored.reply_to].text == "Jordan example"
    bad = await run_command(runtime.core, CommandContext(person("Kristin"), LOUNGE),
                            "reply", "99 hello")
    assert bad == "This topic has no post #99."


async def test_malformed_and_oversized_input_gets_an_answer_not_a_crash(runtime, console):
    ctx = CommandContext(FACILITATOR, FORUM)
    assert "Usage: /newtopic" in await run_command(runtime.core, ctx, "newtopic", "")
    assert "no topic here" in (await run_command(runtime.core, ctx, "prompt", "Why?")).lower()
    assert "too long" in await run_command(runtime.core, ctx, "newtopic", "x" * 300)
    assert "I don't know /frobnicate" in await run_command(runtime.core, ctx, "frobnicate", "")
    await open_topic(runtime)
    _, outcome = await console.say("forum", person("Wordy"), "word " * 20_000)
    assert outcome.post is None
    assert "too long (99999 characters; the limit is 40000)" in outcome.answer
    assert len(await runtime.store.posts(1)) == 1


async def test_messages_outside_any_topic_are_left_alone(runtime):
    stray = IncomingMessage(ChannelRef("console", "forum"), "x1", person("Someone"), "hi all",
                            datetime.now(UTC))
    assert (await runtime.core.receive(stray)).ignored_reason == "not part of a topic"
    elsewhere = IncomingMessage(ChannelRef("console", "kitchen"), "x2", person("Someone"), "hi",
                                datetime.now(UTC))
    assert (await runtime.core.receive(elsewhere)).ignored_reason == "chat is not bridged"


def test_commands_addressed_to_another_bot_are_not_ours():
    assert parse_command("/status@bridgebot_bot", "bridgebot_bot") == ("status", "")
    assert parse_command("/status@OtherBot", "bridgebot_bot") is None
    assert parse_command("/newtopic Title\nIntro line", None) == ("newtopic", "Title\nIntro line")
    assert parse_command("just text") is None


async def test_status_counts_new_posts_from_the_readers_marker(runtime, console):
    await open_topic(runtime)
    reader = Author("console", "reader", "Reader")
    assert "2 posts / 2 new" not in await runtime.core.status(reader, FORUM)
    await console.say("forum", person("Brittany"), "one")
    await console.say("forum", person("Jessica"), "two")
    status = await runtime.core.status(reader, FORUM)
    assert "3 posts / 2 new · last post by Jessica" in status
    assert "3 posts / 0 new" in await runtime.core.status(reader, FORUM)


async def test_a_post_checked_just_before_another_worker_locks_the_topic_is_refused(runtime,
                                                                                   console):
    """Posts gathered for one commit are checked against a topic read shortly before
    (Store.topic_placing); a lock committed meanwhile by another worker or the CLI, whose
    lock this process never saw, still stops them: the post is refused at its commit and
    its author told, as any post in a locked topic is."""
    topic = await open_topic(runtime)
    where = ChannelRef("console", "lounge", console.thread_of_room.get("lounge"))
    late_comer = person("Late Comer")
    with runtime.core.together():  # one getUpdates answer: placed now, committed at the end
        later = await runtime.core.accept(IncomingMessage(
            where=where, message_id="late-1", author=late_comer, text="Am I too late?",
            sent_at=datetime.now(UTC)))
        # Another process's store: this process's topic reads are not told of its lock.
        other_worker = Store(runtime.db)
        assert await other_worker.set_status(topic.id, TopicStatus.LOCKED, "Kristin Antin",
                                             "Thank you all", datetime.now(UTC), [])
    outcome = await later()
    assert outcome.refused_locked and outcome.notify_locked and outcome.post is None
    assert outcome.answer is not None and "locked" in outcome.answer.lower()
    posts = await runtime.store.posts(topic.id)
    assert [p.text for p in posts] == ["Tell us about your allies."]
    await runtime.drain()
    assert "Am I too late?" not in [s.text for s in console.visible("forum")]


async def test_a_post_refused_at_its_commit_leaves_no_record_of_a_newcomer(runtime, console):
    """People are written in the batch before the lock is found at its commit: someone whose
    only post was refused leaves no name or user id behind; someone known keeps their row."""
    topic = await open_topic(runtime)
    where = ChannelRef("console", "lounge", console.thread_of_room.get("lounge"))
    regular, late_comer = person("Brittany"), person("Late Comer")
    _, earlier = await console.say("lounge", regular, "An early example")
    assert earlier.post is not None

    async def participants() -> dict[str, tuple[int, str]]:
        rows = await runtime.db.fetch("SELECT user_id, id, display_name FROM participants")
        return {r[0]: (r[1], r[2]) for r in rows}

    known = await participants()
    with runtime.core.together():  # one commit, placed before another worker's lock
        refused = [await runtime.core.accept(IncomingMessage(
            where=where, message_id=f"late-{n}", author=who, text=f"Am I too late? {n}",
            sent_at=datetime.now(UTC))) for n, who in enumerate((late_comer, regular))]
        assert await Store(runtime.db).set_status(topic.id, TopicStatus.LOCKED, "Kristin Antin",
                                                  "Thank you all", datetime.now(UTC), [])
    for later in refused:
        assert (await later()).refused_locked
    after = await participants()
    assert late_comer.user_id not in after
    assert "Late Comer" not in [name for _, name in after.values()]
    assert after[regular.user_id] == known[regular.user_id]
    assert [p.text for p in await runtime.store.posts(topic.id)][1:] == ["An early example"]
