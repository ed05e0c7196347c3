"""The seed discussion, rebuilt through the console rooms, reads like the forum page."""

from __future__ import annotations

import re

import pytest

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.cli import load_archive
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.export import to_html, to_json, to_markdown
from bridgebot.demo.script import load_seed
from bridgebot.runtime import Runtime

from .auxil.postgres import STORES
from .auxil.world import FACILITATOR, FORUM, LOUNGE, person

pytestmark = pytest.mark.parametrize("store", STORES, indirect=True)

ROOM_OF_PLATFORM = {"telegram": FORUM, "discord": LOUNGE}


async def replay_seed(runtime: Runtime, console: ConsoleAdapter, lock: bool = True) -> int:
    """Open the seed topic, ask its questions, post its comments from both rooms, lock."""
    seed = load_seed()
    ctx = CommandContext(FACILITATOR, FORUM, message_id=None)
    answer = await run_command(runtime.core, ctx, "newtopic",
                               f"{seed.title}\n{seed.introduction}")
    assert "is open" in answer, answer
    for question in seed.questions:
        await run_command(runtime.core, ctx, "prompt", question)
    await runtime.drain()
    topic = await runtime.store.latest_topic("allies")
    assert topic is not None
    prompts = await runtime.store.prompts(topic.id)
    post_ids: list[int] = []
    for scripted in seed.posts:
        room = ROOM_OF_PLATFORM[scripted.platform]
        if scripted.reply_to is not None:
            parent_id = post_ids[scripted.reply_to - 1]
            reply_to = (await runtime.store.messages_on(room, post_id=parent_id))[0]
        else:
            prompt = prompts[scripted.prompt - 1]
            reply_to = (await runtime.store.messages_on(room, prompt_id=prompt.id))[0]
        _, outcome = await console.say(room.chat_id, person(scripted.author), scripted.message,
                                       reply_to=reply_to)
        assert outcome.post is not None, outcome
        post_ids.append(outcome.post.id)
        await runtime.drain()
    if lock:
        await run_command(runtime.core, ctx, "lock", "")
        await runtime.drain()
    return topic.id


async def test_seed_discussion_counts_nine_posts_like_the_forum(runtime, console):
    topic_id = await replay_seed(runtime, console)
    reader = person("Brittany Landorf")
    topic = await runtime.store.topic(topic_id)
    line = await runtime.core.status_line(topic, reader)
    # Her own post (#2) marked the opening post as read: the 7 after hers by others are new.
    assert re.fullmatch(
        r"9 posts / 7 new · last post by Practitioner, Sri Lanka, \d{4}-\d\d-\d\d \d\d:\d\d UTC"
        r" · locked", line), line
    # Having read it, nothing is new for her any more.
    assert (await runtime.core.status_line(topic, reader)).startswith("9 posts / 0 new")


async def test_seed_export_nests_replies_and_ends_locked(runtime, console):
    topic_id = await replay_seed(runtime, console)
    archive = await load_archive(runtime.store, topic_id)
    markdown = to_markdown(archive)
    seed = load_seed()
    assert markdown.startswith(f"# {seed.title}\n\n9 posts · Last post by Practitioner, Sri Lanka")
    for question in seed.questions:
        assert question in markdown
    headings = re.findall(r"^(#{2,6}) (.+)$", markdown, flags=re.M)
    assert headings == [
        ("##", "Engaging governmental allies in Jordan"),
        ("##", "Engaging government allies in Russia"),
        ("##", "Science and Technology for Human Rights"),
        ("###", "Re: Science and Technology for Human Rights"),
        ("####", "Re: Science and Technology for Human Rights"),
        ("##", "Engaging Men & Faith-based groups in Women's Rights Work"),
        ("##", "Faith-based or religious groups: allies or adversaries?"),
        ("##", "Engaging Youth and Diaspora"),
    ]
    assert "Brittany Landorf · console" in markdown
    assert markdown.rstrip().endswith("Topic locked")
    html = to_html(archive)
    assert "Engaging Men &amp; Faith-based groups" in html
    assert html.count("<article") == 8 == html.count("</article>")
    assert '<p class="locked">Topic locked</p>' in html
    assert "http://www.aaas.org/oncallscientists" in html
    data = __import__("json").loads(to_json(archive))
    assert data["post_count"] == 9
    assert [p["parent"] for p in data["posts"]] == [None, None, None, 4, 5, None, None, None]


async def test_replies_are_threaded_across_rooms(runtime, console):
    await replay_seed(runtime, console, lock=False)
    # Jessica's reply was typed in the forum room in answer to a post from the lounge:
    # in the lounge, its mirror answers the lounge's original message natively.
    lounge = {s.message_id: s for s in console.visible("lounge")}
    mirrored_reply = next(s for s in lounge.values() if s.text.startswith("#5 "))
    original = lounge[mirrored_reply.reply_to]
    assert original.author == "Jessica(2)"
    assert original.text.startswith("Science and Technology for Human Rights")
