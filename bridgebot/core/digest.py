"""Digests: a short summary a facilitator posts into every chat of a discussion.

Over days a thread gets long; a digest tells people what happened since the last one:
new posts per guiding question, the threads with most replies, and who joined, so
they know where to read. It goes out as a bot notice (``Action.NOTICE``), the text
stored with each delivery, and each platform escapes it like any user text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bridgebot.core import errors
from bridgebot.core.export import Archive
from bridgebot.core.models import Author, ChannelRef, Post, Prompt, Topic
from bridgebot.core.ports import UnitOfWork
from bridgebot.core.privacy import shown_posts
from bridgebot.core.service import Discussions
from bridgebot.core.text import short_subject
from bridgebot.i18n import DEFAULT_LANGUAGE, N_, Translator, translator

TOP_THREADS = 3
QUESTION_WORDS = 8


@dataclass(frozen=True)
class Digest:
    """A digest's text and the last post number it covers (the next one starts after it).

    ``text`` is in the language it was composed in (English unless asked); ``texts`` holds
    the same digest per language, so each chat gets it in its own language.
    """

    text: str
    upto_number: int
    new_posts: int
    texts: Mapping[str, str] = field(default_factory=dict)

    def in_language(self, lang: str) -> str:
        return self.texts.get(lang, self.text)


def compose_digest(topic: Topic, prompts: list[Prompt], posts: list[Post], since: int,
                   lang: str | None = None) -> Digest:
    """Summarise the visible ``posts`` newer than number ``since``, in ``lang``."""
    t = translator(lang)
    archive = Archive(topic, prompts, posts)
    comments = archive.comments
    fresh = [p for p in comments if p.number > since]
    upto = max((p.number for p in posts), default=since)
    total = len(posts)
    lines = [t("📋 Digest: “{title}”", title=topic.title)]
    if fresh:
        lines.append(t.ngettext("{n} new post since the last digest ({total} in all).",
                                "{n} new posts since the last digest ({total} in all).",
                                len(fresh), total=total))
        lines += _per_question(t, prompts, fresh)
    else:
        lines.append(t("No new posts since the last digest ({total} in all).", total=total))
    threads = _most_replied(t, archive)
    if threads:
        lines.append(t("Most-replied threads:"))
        lines += threads
    newcomers = _newcomers(comments, since)
    if newcomers:
        lines.append(t("New participants: {names}. Welcome!", names=", ".join(newcomers)))
    text = "\n".join(lines)
    return Digest(text, upto, len(fresh), {t.locale: text})


def compose_digests(topic: Topic, prompts: list[Prompt], posts: list[Post], since: int,
                    languages: Iterable[str]) -> Digest:
    """The digest in English and in each of ``languages`` (the languages of the chats)."""
    english = compose_digest(topic, prompts, posts, since)
    texts = dict(english.texts)
    for lang in languages:
        if lang not in texts:
            texts[lang] = compose_digest(topic, prompts, posts, since, lang).text
    return Digest(english.text, english.upto_number, english.new_posts, texts)


def _per_question(t: Translator, prompts: list[Prompt], fresh: list[Post]) -> list[str]:
    counts: dict[int | None, int] = defaultdict(int)
    for post in fresh:
        counts[post.prompt_id] += 1
    lines = [t("New posts per question:")]
    for prompt in prompts:
        if counts.get(prompt.id):
            question = short_subject(prompt.question, QUESTION_WORDS)
            lines.append(t("• Question {position} ({question}): {count}", position=prompt.position,
                           question=question, count=counts[prompt.id]))
    known = {p.id for p in prompts}
    other = sum(n for prompt_id, n in counts.items() if prompt_id not in known)
    if other:
        lines.append(t("• On the topic itself: {count}", count=other))
    return lines


def _most_replied(t: Translator, archive: Archive) -> list[str]:
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
    return [t("• #{number} “{subject}” by {author}: {replies}", number=p.number,
              subject=archive.subject(p), author=p.author_name,
              replies=t.ngettext("{n} reply", "{n} replies", replies[p.id])) for p in ranked]


def _newcomers(comments: list[Post], since: int) -> list[str]:
    first: dict[tuple[str, str], Post] = {}
    for post in comments:
        first.setdefault((post.author_platform, post.author_id), post)
    return [p.author_name for p in sorted(first.values(), key=lambda p: p.number) if p.number > since]


def _chat_languages(core: Discussions, topic: Topic) -> list[str]:
    bridge = core.bridges.get(topic.bridge)
    return sorted({core.chat_language(c) for c in bridge.channels} if bridge else {DEFAULT_LANGUAGE})


async def prepare_digest(core: Discussions, topic: Topic) -> Digest:
    """The digest of a topic as of now, counted from the previous digest, in the language
    of each chat of its bridge."""
    since = await core.facilitation.last_digest(topic.id)
    # Authors as the bridge names them in copies: a digest goes to every chat.
    posts = await shown_posts(core, await core.store.posts(topic.id))
    return compose_digests(topic, await core.store.prompts(topic.id), posts, since,
                           _chat_languages(core, topic))


async def post_digest(
    core: Discussions, topic: Topic, who: str, now: datetime, *,
    within: UnitOfWork | None = None, digest: Digest | None = None,
) -> Digest:
    """Record a digest and queue it to every chat of the topic's bridge (no rules checked:
    :func:`digest_topic` is the facilitator's action)."""
    digest = digest or await prepare_digest(core, topic)
    bridge = core.bridges.get(topic.bridge)
    targets: tuple[ChannelRef, ...] = bridge.channels if bridge else ()
    texts = {target: digest.in_language(core.chat_language(target)) for target in targets}
    await core.facilitation.record_digest(topic.id, digest.upto_number, who, now, digest.text,
                                          targets, within=within, texts=texts)
    if within is None:
        core.wake_relay()
    return digest


async def digest_topic(
    core: Discussions, actor: Author, topic: Topic, *, platform_admin: bool = False,
    within: UnitOfWork | None = None, digest: Digest | None = None, now: datetime | None = None,
) -> Digest:
    """A facilitator posts a digest of ``topic`` to every linked chat; a locked topic's
    archive is its summary, so it takes none."""
    if not await core.is_facilitator(actor, platform_admin):
        raise errors.NotFacilitator("digest")
    if topic.is_locked:
        raise errors.LockedTopicRefuses(
            N_("“{title}” is locked: its archive (bridgebot export) is the summary now."),
            title=topic.title,
        )
    return await post_digest(core, topic, actor.display_name, now or core.clock(), within=within,
                             digest=digest)


async def digest_command(
    core: Discussions, actor: Author, where: ChannelRef, *, platform_admin: bool = False,
    reply_to: str | None = None, lang: str | None = None,
) -> str:
    """``/digest``: facilitators post a digest of the topic here to every linked chat (each
    in its own language); the facilitator is answered in ``lang``."""
    if not await core.is_facilitator(actor, platform_admin):
        raise errors.NotFacilitator("digest")
    topic = await core.topic_here(where, reply_to)
    digest = await digest_topic(core, actor, topic, platform_admin=platform_admin)
    t = translator(lang or core.chat_language(where))
    return t.ngettext(
        "Digest of “{title}” posted to every linked chat ({n} new post since the previous one).",
        "Digest of “{title}” posted to every linked chat ({n} new posts since the previous one).",
        digest.new_posts, title=topic.title)
