"""Digests: a short summary a facilitator posts into every chat of a discussion.

Over days a thread gets long; a digest tells people what happened since the last one:
new posts per guiding question, the threads with most replies, and who joined, so
they know where to read. It goes out as a bot notice (``Action.NOTICE``), the text
stored with each delivery, and each platform escapes it like any user text.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bridgebot.core import errors
from bridgebot.core.export import Archive
from bridgebot.core.models import Author, ChannelRef, Post, Prompt, Topic
from bridgebot.core.service import Discussions
from bridgebot.core.text import short_subject

TOP_THREADS = 3
QUESTION_WORDS = 8


@dataclass(frozen=True)
class Digest:
    """A digest's text and the last post number it covers (the next one starts after it)."""

    text: str
    upto_number: int
    new_posts: int


def compose_digest(topic: Topic, prompts: list[Prompt], posts: list[Post], since: int) -> Digest:
    """Summarise the visible ``posts`` newer than number ``since``."""
    archive = Archive(topic, prompts, posts)
    comments = archive.comments
    fresh = [p for p in comments if p.number > since]
    upto = max((p.number for p in posts), default=since)
    total = len(posts)
    lines = [f"📋 Digest: “{topic.title}”"]
    if fresh:
        lines.append(f"{_n(len(fresh), 'new post')} since the last digest ({total} in all).")
        lines += _per_question(prompts, fresh)
    else:
        lines.append(f"No new posts since the last digest ({total} in all).")
    threads = _most_replied(archive)
    if threads:
        lines.append("Most-replied threads:")
        lines += threads
    newcomers = _newcomers(comments, since)
    if newcomers:
        lines.append("New participants: " + ", ".join(newcomers) + ". Welcome!")
    return Digest("\n".join(lines), upto, len(fresh))


def _n(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def _per_question(prompts: list[Prompt], fresh: list[Post]) -> list[str]:
    counts: dict[int | None, int] = defaultdict(int)
    for post in fresh:
        counts[post.prompt_id] += 1
    lines = ["New posts per question:"]
    for prompt in prompts:
        if counts.get(prompt.id):
            question = short_subject(prompt.question, QUESTION_WORDS)
            lines.append(f"• Question {prompt.position} ({question}): {counts[prompt.id]}")
    known = {p.id for p in prompts}
    other = sum(n for prompt_id, n in counts.items() if prompt_id not in known)
    if other:
        lines.append(f"• On the topic itself: {other}")
    return lines


def _most_replied(archive: Archive) -> list[str]:
    """Top-level comments with the most replies beneath them (all depths)."""
    replies: dict[int, int] = defaultdict(int)
    roots: list[Post] = []
    for depth, post in archive.threads():
        if depth == 0:
            roots.append(post)
        else:
            replies[roots[-1].id] += 1
    ranked = sorted((p for p in roots if replies[p.id]),
                    key=lambda p: (-replies[p.id], p.number))[:TOP_THREADS]
    return [f"• #{p.number} “{archive.subject(p)}” by {p.author_name}: "
            f"{_n(replies[p.id], 'reply', 'replies')}" for p in ranked]


def _newcomers(comments: list[Post], since: int) -> list[str]:
    first: dict[tuple[str, str], Post] = {}
    for post in comments:
        first.setdefault((post.author_platform, post.author_id), post)
    return [p.author_name for p in sorted(first.values(), key=lambda p: p.number) if p.number > since]


async def prepare_digest(core: Discussions, topic: Topic) -> Digest:
    """The digest of a topic as of now, counted from the previous digest."""
    since = await core.facilitation.last_digest(topic.id)
    return compose_digest(topic, await core.store.prompts(topic.id), await core.store.posts(topic.id),
                          since)


async def post_digest(
    core: Discussions, topic: Topic, who: str, now: datetime, *,
    within: aiosqlite.Connection | None = None, digest: Digest | None = None,
) -> Digest:
    """Record a digest and queue it to every chat of the topic's bridge."""
    digest = digest or await prepare_digest(core, topic)
    bridge = core.bridges.get(topic.bridge)
    targets: tuple[ChannelRef, ...] = bridge.channels if bridge else ()
    await core.facilitation.record_digest(topic.id, digest.upto_number, who, now, digest.text,
                                          targets, within=within)
    if within is None:
        core.wake_relay()
    return digest


async def digest_command(
    core: Discussions, actor: Author, where: ChannelRef, *, platform_admin: bool = False,
    reply_to: str | None = None,
) -> str:
    """``/digest``: facilitators post a digest of the topic here to every linked chat."""
    if not await core.is_facilitator(actor, platform_admin):
        raise errors.NotFacilitator("digest")
    topic = await core.topic_here(where, reply_to)
    if topic.is_locked:
        raise errors.InvalidInput(
            f"“{topic.title}” is locked: its archive (bridgebot export) is the summary now."
        )
    digest = await post_digest(core, topic, actor.display_name, core.clock())
    return (f"Digest of “{topic.title}” posted to every linked chat "
            f"({_n(digest.new_posts, 'new post')} since the previous one).")
