"""The one name an author has outside their own chat.

Each bridge chooses how authors appear in copies and in the bot's own messages: their
display name, their first name only, or a stable pseudonym per topic; a person's own
alias beats every mode, and a forgotten person is "Former participant N". Decided here,
when a delivery is built, so every adapter shows the same name and nothing else (see
:mod:`bridgebot.core.privacy` for why). Kept apart from the commands in ``privacy.py`` so
that :mod:`bridgebot.core.service` can name authors without importing them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from bridgebot.core.models import Post, Topic
from bridgebot.core.ports import Identity, PrivacyPort
from bridgebot.core.richtext.spans import Kind, replace_text


class AuthorMode(enum.StrEnum):
    """How a bridge shows authors outside their own chat (``authors`` in a bridge's settings)."""

    DISPLAY_NAME = "display_name"
    FIRST_NAME = "first_name"
    PSEUDONYM = "pseudonym"


# Shown to everyone alike, so written once, in English.
PSEUDONYM = "Participant {n}"
FACILITATOR_NAME = "Facilitator"
SOMEONE = "Participant"


class NamingRule(Protocol):
    """What naming needs of a bridge: its ``authors`` setting."""

    @property
    def authors(self) -> str: ...


def mode_of(bridges: Mapping[str, NamingRule], bridge: str) -> AuthorMode:
    """The bridge's ``authors`` setting (display names when the bridge is not configured)."""
    configured = bridges.get(bridge)
    return AuthorMode(configured.authors) if configured is not None else AuthorMode.DISPLAY_NAME


def pseudonym_name(number: int | None) -> str:
    return PSEUDONYM.format(n=number) if number else SOMEONE


def first_name(display_name: str) -> str:
    """"Brittany Landorf" → "Brittany": the first word, without a trailing comma."""
    words = display_name.split()
    return (words[0].rstrip(",;:") or words[0]) if words else display_name


def shown_name(identity: Identity | None, post: Post, mode: AuthorMode) -> str:
    """The one name a post's author has outside their own chat.

    A forgotten person is "Former participant N" (or keeps the topic's pseudonym when the
    bridge shows pseudonyms); an alias beats every mode; then the bridge's mode decides.
    """
    if identity is None:
        return pseudonym_name(None) if mode is AuthorMode.PSEUDONYM else post.author_name
    return identity_name(identity, post.is_opening, mode)


def identity_name(identity: Identity, is_opening: bool, mode: AuthorMode) -> str:
    """:func:`shown_name` for a known author, from their identity alone (no post needed:
    /status names the last author without loading the post)."""
    if identity.forgotten:
        if mode is AuthorMode.PSEUDONYM and identity.pseudonym:
            return pseudonym_name(identity.pseudonym)
        return identity.display_name
    if identity.alias:
        return identity.alias
    if mode is AuthorMode.FIRST_NAME:
        return first_name(identity.display_name)
    if mode is AuthorMode.PSEUDONYM:
        return FACILITATOR_NAME if is_opening else pseudonym_name(identity.pseudonym)
    return identity.display_name


def mention_name(identity: Identity | None, written: str, mode: AuthorMode) -> str:
    """The name a mention shows outside its chat, by the rules an author's name follows: an
    alias beats every mode; a pseudonym bridge shows the person's pseudonym in the topic
    (or "Participant" for someone who has not posted there); never an id."""
    if identity is None or identity.forgotten:
        if mode is AuthorMode.PSEUDONYM:
            return pseudonym_name(identity.pseudonym if identity else None)
        return first_name(written) if mode is AuthorMode.FIRST_NAME else written
    if identity.alias:
        return identity.alias
    if mode is AuthorMode.FIRST_NAME:
        return first_name(identity.display_name)
    if mode is AuthorMode.PSEUDONYM:
        return pseudonym_name(identity.pseudonym)
    return identity.display_name


async def name_mentions(privacy: PrivacyPort, bridges: Mapping[str, NamingRule], topic: Topic,
                        post: Post) -> Post:
    """``post`` with each mention of a person showing the name the bridge shows for them."""
    return await mentions_named(privacy, mode_of(bridges, topic.bridge), topic.id, post)


async def mentions_named(privacy: PrivacyPort, mode: AuthorMode, topic_id: int, post: Post,
                         known: dict[str, Identity | None] | None = None) -> Post:
    """``post`` with each mention of a person named by ``mode`` (``known``: people already
    looked up, for a whole page of posts)."""
    mentions = [s for s in post.spans if s.kind is Kind.MENTION and s.user]
    if not mentions:
        return post
    known = {} if known is None else known
    text, spans = post.text, post.spans
    for mention in sorted(mentions, key=lambda s: s.start, reverse=True):
        assert mention.user is not None
        if mention.user not in known:
            platform, _, user_id = mention.user.partition(":")
            known[mention.user] = await privacy.mentioned(topic_id, platform, user_id)
        identity = known[mention.user]
        current = next(s for s in spans if s.start == mention.start and s.kind is Kind.MENTION)
        written = text[current.start:current.end]
        prefix = written[:1] if written[:1] in "@#" else ""
        shown = prefix + mention_name(identity, written[len(prefix):], mode)
        if shown != written:
            text, spans = replace_text(text, spans, current, shown)
    return replace(post, text=text, spans=spans)


async def name_posts(privacy: PrivacyPort, bridges: Mapping[str, NamingRule], posts: Sequence[Post],
                     *, for_delivery: bool = False) -> list[Post]:
    """Copies of ``posts`` whose ``author_name`` is the name their bridge shows.

    ``for_delivery`` also replaces the author's platform user id with an opaque key of
    bridgebot's own (``participant:N``): a copy sent to another platform carries the shown
    name and nothing else about the person, yet an adapter can still tell two people
    apart (Matrix gives each their own ghost user).
    """
    identities = await privacy.identities(p.id for p in posts)
    out = []
    for post in posts:
        identity = identities.get(post.id)
        mode = mode_of(bridges, identity.bridge) if identity else AuthorMode.DISPLAY_NAME
        shown = replace(post, author_name=shown_name(identity, post, mode))
        key = f"participant:{identity.participant_id}" if identity else ""
        out.append(replace(shown, author_id=key) if for_delivery else shown)
    return out


async def last_author(privacy: PrivacyPort, bridges: Mapping[str, NamingRule], topic: Topic) -> str | None:
    """The shown name of the newest visible post's author (for "last post by …" in a
    topic's /status), or None when it has no visible post."""
    return (await last_authors(privacy, bridges, [topic])).get(topic.id)


async def last_authors(privacy: PrivacyPort, bridges: Mapping[str, NamingRule],
                       topics: Iterable[Topic]) -> dict[int, str]:
    """Topic id -> the shown name of its newest visible post's author (for "last post by
    …"), for all of a person's topics in one statement, as /status asks. A topic without a
    visible post is left out."""
    found = await privacy.last_visible_authors(t.id for t in topics)
    return {topic_id: identity_name(identity, is_opening, mode_of(bridges, identity.bridge))
            for topic_id, (identity, is_opening) in found.items()}
