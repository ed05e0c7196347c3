"""``/who``: who has taken part in a topic, with their posts and platforms.

A facilitator running a week-long discussion wants to see who spoke and who stayed quiet
without server access. Names are the ones the bridge shows (display names, first names,
aliases or pseudonyms, "Former participant N" for someone forgotten): the list reveals
nothing the discussion's copies do not already show. Hidden posts do not count.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from bridgebot.core import errors
from bridgebot.core.models import Author, ChannelRef
from bridgebot.core.privacy import shown_posts
from bridgebot.core.service import Discussions
from bridgebot.i18n import translator

WHO_MAX = 50  # people listed in one answer; the rest are counted


@dataclass(frozen=True)
class Taking:
    """One person's part in a topic, as the bridge names them."""

    name: str
    platform: str
    posts: int


async def participants(core: Discussions, topic_id: int) -> list[Taking]:
    """Everyone with a visible post past the opening, most posts first (then who came first)."""
    posts = [p for p in await core.store.posts(topic_id) if not p.is_opening]
    shown = await shown_posts(core, posts)
    counts: Counter[tuple[str, str, str]] = Counter(
        (p.author_platform, p.author_id, s.author_name) for p, s in zip(posts, shown, strict=True))
    # Counter keeps first-seen order, so a stable sort by count keeps who came first.
    people = sorted(counts, key=lambda key: -counts[key])
    return [Taking(name, core.platforms.display_name(platform), counts[(platform, uid, name)])
            for platform, uid, name in people]


async def who_command(core: Discussions, actor: Author, where: ChannelRef, *,
                      platform_admin: bool = False, reply_to: str | None = None,
                      lang: str | None = None) -> str:
    """The answer to ``/who`` in ``lang``: the topic, then one line per participant."""
    if not await core.is_facilitator(actor, platform_admin):
        raise errors.NotFacilitator("who")
    t = translator(lang or core.chat_language(where))
    topic = await core.topic_here(where, reply_to)
    people = await participants(core, topic.id)
    if not people:
        return t("Nobody has posted in “{title}” yet.", title=topic.title)
    total = sum(p.posts for p in people)
    lines = [t.ngettext("“{title}”: {n} participant", "“{title}”: {n} participants", len(people),
                        title=topic.title)
             + " · " + t.ngettext("{n} post", "{n} posts", total)]
    for person in people[:WHO_MAX]:
        lines.append(t("• {name} ({platform}): {posts}", name=person.name,
                       platform=person.platform,
                       posts=t.ngettext("{n} post", "{n} posts", person.posts)))
    if len(people) > WHO_MAX:
        lines.append(t.ngettext("…and {n} more.", "…and {n} more.", len(people) - WHO_MAX))
    return "\n".join(lines)
