"""/catchup reads only what it shows, and shows what reading every post showed.

``catch_up`` once loaded every post of each topic to name replies ("Re: …") and filter by the
read marker; it now reads the posts past the marker that it lists, the parents their subjects
come from, and counts the rest. :func:`whole_topic_catch_up` is the old way, kept here as
the reference: on random threads (replies to replies, to hidden and to erased posts, to
posts far before the marker, subjects and texts in odd Unicode, the readers' own posts in
between, hidden last posts) both must give the same text and leave the same markers, call
after call until everything is read.
"""

from __future__ import annotations

import random
from datetime import timedelta

from bridgebot.core.export import Archive
from bridgebot.core.models import Author, Topic
from bridgebot.core.privacy import forget_person, shown_posts
from bridgebot.core.reading import catch_up
from bridgebot.core.service import Discussions
from bridgebot.i18n import translator
from bridgebot.runtime import Runtime

from ..auxil.world import FACILITATOR, START, person

# Subjects and texts a reply's "Re: …" and a root's first words are made from: accents,
# right-to-left, combining marks, emoji with joiners, a zero-width space, CJK without spaces,
# one that already says "Re: ", an empty subject (no subject at all), and long texts.
ODD = ["Ünïcödé ällies", "שלום עולם", "e\u0301te\u0301 cafe\u0301", "👩\u200d👩\u200d👧 family",
       "zero\u200bwidth", "日本語の長い文章で空白がありません" * 3, "Re: already a reply",
       "Re:no space", "  spaced   out  ", "Ωmega\tand\ttabs", "a\nsecond line"]


async def whole_topic_catch_up(core: Discussions, reader: Author, topics: list[Topic],
                               limit: int) -> tuple[str, dict[int, int]]:
    """The old ``catch_up`` (every post of each topic read), without links and without
    writing: its text, and the marker it would have left in each topic it moved."""
    t = translator(None)
    reader_id = await core.store.ensure_participant(reader, core.clock())
    lines: list[str] = []
    markers: dict[int, int] = {}
    listed = more = 0
    for topic in topics:
        marker = await core.store.read_marker(reader_id, topic.id)
        visible = await core.store.posts(topic.id)
        archive = Archive(topic, [], visible)
        fresh = [p for p in visible if p.number > marker]
        others = [p for p in fresh if (p.author_platform, p.author_id) != (reader.platform, reader.user_id)]
        if not others:
            if fresh:
                markers[topic.id] = fresh[-1].number
            continue
        room = limit - listed
        if room <= 0:
            more += len(others)
            continue
        shown = others[:room]
        lines.append(f"“{topic.title}” — {len(others)} new:")
        for post in await shown_posts(core, shown):
            subject = archive.subject(post) if not post.is_opening else topic.title
            lines.append(f"• #{post.number} {subject} — {post.author_name}")
        listed += len(shown)
        more += len(others) - len(shown)
        markers[topic.id] = shown[-1].number if len(shown) < len(others) else fresh[-1].number
    if not lines:
        return t("Nothing new for you: you are all caught up."), markers
    if more:
        lines.append(f"…and {more} more: send /catchup again for the next ones.")
    return "\n".join(lines), markers


async def random_threads(runtime: Runtime, rnd: random.Random, people: list[Author],
                         topics: int = 3, posts: int = 45) -> list[Topic]:
    """Topics of random threads: some posts with odd subjects, most replies to a random
    earlier post (often one a reader read long ago), some hidden (the last one of a
    topic among them), and everything one person wrote erased by /forgetme."""
    store = runtime.store
    when = START
    made: list[Topic] = []
    for k in range(topics):
        when += timedelta(minutes=1)
        topic_id = await store.create_topic("allies", f"Topic {k} — {rnd.choice(ODD)}", "Intro.",
                                            FACILITATOR, when, [])
        ids = [(await store.post_by_number(topic_id, 1)).id]  # type: ignore[union-attr]
        for n in range(posts):
            when += timedelta(seconds=10)
            parent = rnd.choice(ids[-3:] if rnd.random() < 0.5 else ids) if rnd.random() < 0.75 else None
            subject = rnd.choice([*ODD, "", "", ""]) if rnd.random() < 0.3 else None
            text = rnd.choice(ODD) + f" {n} " + " ".join(rnd.choice(ODD) for _ in range(rnd.randrange(0, 12)))
            post_id, _ = await store.add_post(
                topic_id=topic_id, author=rnd.choice(people), text=text, subject=subject,
                parent_id=parent, prompt_id=None, created_at=when, origin=None, message_id=None,
                targets=[])
            ids.append(post_id)
        for post_id in [*rnd.sample(ids[1:], len(ids) // 6), ids[-1]]:
            await store.set_hidden(post_id, True, "Kristin Antin", when, [])
        made.append(await store.topic(topic_id))  # type: ignore[arg-type]
    await forget_person(runtime.core, people[-1].platform, people[-1].user_id)
    return made


async def test_catchup_lists_what_reading_every_post_listed_on_random_threads(runtime: Runtime):
    core = runtime.core
    rnd = random.Random(15)
    readers = [person("Reader One"), person("Reader Two"), person("Reader Three")]
    writers = [person("Brittany Landorf"), person("Jessica Okafor"), person("Forgotten Person")]
    topics = await random_threads(runtime, rnd, [*writers, readers[0], readers[1]])
    for reader, limit in zip(readers, [15, 4, 7], strict=True):
        reader_id = await core.store.ensure_participant(reader, core.clock())
        for topic in topics:  # somewhere in the topic (0: nothing read yet)
            await core.store.mark_read(reader_id, topic.id, rnd.choice([0, 0, 5, 20, 30, 44]))
        seen_caught_up = False
        for _ in range(40):
            expected, markers = await whole_topic_catch_up(core, reader, topics, limit)
            before = {t.id: await core.store.read_marker(reader_id, t.id) for t in topics}
            assert await catch_up(core, reader, topics, limit=limit) == expected
            after = {t.id: await core.store.read_marker(reader_id, t.id) for t in topics}
            assert after == {**before, **markers}
            if expected.startswith("Nothing new"):
                seen_caught_up = True
                break
        assert seen_caught_up
