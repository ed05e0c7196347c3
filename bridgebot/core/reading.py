"""Unread for participants: "N posts / M new" across a person's discussions, and /catchup.

On the forum a reader saw "9 posts / 2 new" next to each topic and jumped to the new
comments. In chats a person asks the bot privately (Telegram) or ephemerally
(Discord): ``/status`` lists their discussions with the counts, ``/catchup`` lists
the new posts' subjects with links to the messages and moves their read marker.
Links are the platform's business, so adapters pass a :data:`LinkMaker`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC

from bridgebot.core.export import Archive
from bridgebot.core.models import Author, ChannelRef, Topic
from bridgebot.core.privacy import shown_last_authors, shown_posts
from bridgebot.core.service import STATUS_NAMES, Discussions, counts_text
from bridgebot.i18n import translator

# (where a message is, its id) -> a link a person can open, or None if not on this platform.
LinkMaker = Callable[[ChannelRef, str], str | None]

OVERVIEW_MAX = 10
CATCHUP_MAX = 15


async def reader_topics(core: Discussions, reader: Author, bridges: Iterable[str] = ()) -> list[Topic]:
    """Topics of the bridges a person takes part in: the ones given (chats they are a
    member of) and those where they wrote or read before. Open ones first, newest first."""
    topics = await core.store.reader_topics(reader.platform, reader.user_id, bridges)
    return sorted(topics, key=lambda t: (t.is_locked, -t.id))


async def overview(core: Discussions, reader: Author, bridges: Iterable[str] = (), *,
                   lang: str | None = None) -> str:
    """``/status`` in a private chat: each of the reader's discussions with their counts,
    in the reader's language ``lang``.

    It does not move read markers: /catchup does, while listing what was new.
    """
    t = translator(lang)
    topics = await reader_topics(core, reader, bridges)
    if not topics:
        return t("You are not part of a discussion yet. Reply to a topic in a bridged group; "
                 "then /status here shows what is new for you.")
    # Three statements in all, whatever the number of topics: the counts of each and the
    # names of their last authors are read for all the shown topics at once (one trip to
    # the database per topic was most of /status's time), the two side by side. Only
    # read, never written: someone who never wrote has no posts of their own to leave out.
    shown = topics[:OVERVIEW_MAX]
    counts, last_names = await asyncio.gather(
        core.store.reader_stats([topic.id for topic in shown], reader.platform, reader.user_id),
        shown_last_authors(core, shown))
    lines = [t("Your discussions:")]
    for topic in shown:
        stats = counts.get(topic.id)
        if stats is None:  # not found by the counts' statement: nothing true to show
            continue
        line = t("• “{title}” (topic #{id}): {counts} · {status}", title=topic.title, id=topic.id,
                 counts=counts_text(t, stats.posts, stats.new), status=t(STATUS_NAMES[topic.status]))
        if stats.last_post_author and stats.last_post_at:
            when = stats.last_post_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            name = last_names.get(topic.id) or stats.last_post_author
            line += " · " + t("last post by {name}, {when}", name=name, when=when)
        lines.append(line)
    if len(topics) > OVERVIEW_MAX:
        lines.append(t.ngettext("…and {n} older one.", "…and {n} older ones.",
                                len(topics) - OVERVIEW_MAX))
    lines.append(t("/catchup lists the new posts with links to them."))
    return "\n".join(lines)


async def catch_up(
    core: Discussions, reader: Author, topics: list[Topic], link: LinkMaker | None = None,
    *, prefer: ChannelRef | None = None, limit: int = CATCHUP_MAX, lang: str | None = None,
) -> str:
    """List the reader's new posts (others' posts past their read marker), oldest first
    per topic, with a link each where ``link`` gives one; move the marker past them."""
    t = translator(lang)
    reader_id = await core.store.ensure_participant(reader, core.clock())
    # Only what is shown is read (a topic of 10,000 posts was read whole, on the loop every
    # chat shares): the counts and each topic's newest visible number for all the topics at
    # once, then per listed topic its first new posts and the parents their subjects come
    # from. "New" is others' visible posts past the marker, as /status counts them: the
    # reader's own are told by participant (a post is stored under its author's
    # (platform, user id) row, so this is the comparison of those the whole-topic read made).
    ids = [topic.id for topic in topics]
    counts, tops = await asyncio.gather(
        core.store.reader_stats(ids, reader.platform, reader.user_id),
        core.store.last_visible_numbers(ids))
    lines: list[str] = []
    listed = 0
    more = 0
    for topic in topics:
        stats, top = counts.get(topic.id), tops.get(topic.id, 0)
        if stats is None or top <= stats.read_upto:  # no visible post past the marker
            continue
        marker = stats.read_upto
        room = limit - listed
        if stats.new > 0 and room <= 0:
            more += stats.new
            continue
        shown = await core.store.unread_posts(topic.id, reader_id, marker, room) \
            if stats.new > 0 else []
        if not shown:  # the reader's own posts only: read
            await core.store.mark_read(reader_id, topic.id, top)
            continue
        others = max(stats.new, len(shown))  # a post may have come between the two reads
        lines.append(t.ngettext("“{title}” — {n} new:", "“{title}” — {n} new:", others,
                                title=topic.title))
        archive = Archive(topic, [], [*shown, *await core.store.subject_sources(
            topic.id, [p.parent_id for p in shown if p.parent_id and not p.subject])])
        for post in await shown_posts(core, shown):  # authors as the bridge names them
            subject = archive.subject(post) if not post.is_opening else topic.title
            url = await _link_for(core, post.id, link, prefer)
            line = t("• #{number} {subject} — {author}", number=post.number, subject=subject,
                     author=post.author_name)
            lines.append(line + (f"\n  {url}" if url else ""))
        listed += len(shown)
        more += others - len(shown)
        last = shown[-1].number if len(shown) < others else max(top, shown[-1].number)
        await core.store.mark_read(reader_id, topic.id, last)
    if not lines:
        return t("Nothing new for you: you are all caught up.")
    if more:
        lines.append(t.ngettext("…and {n} more: send /catchup again for the next ones.",
                                "…and {n} more: send /catchup again for the next ones.", more))
    return "\n".join(lines)


async def _link_for(core: Discussions, post_id: int, link: LinkMaker | None,
                    prefer: ChannelRef | None) -> str | None:
    if link is None:
        return None
    places = await core.facilitation.message_places(post_id)
    if prefer is not None:
        places.sort(key=lambda place: place[0].chat != prefer.chat)
    for where, message_id in places:
        url = link(where, message_id)
        if url:
            return url
    return None


async def catchup_command(
    core: Discussions, reader: Author, where: ChannelRef | None, link: LinkMaker | None = None,
    *, bridges: Iterable[str] = (), reply_to: str | None = None, lang: str | None = None,
) -> str:
    """``/catchup``: in a bridged chat, the topic here; elsewhere (a private chat), all the
    reader's discussions. ``lang``: the reader's language (default: the chat's)."""
    lang = lang or core.chat_language(where)
    if where is not None and core.is_bridged(where):
        topics = [await core.topic_here(where, reply_to)]
    else:
        topics = await reader_topics(core, reader, bridges)
        if not topics:
            return await overview(core, reader, bridges, lang=lang)
    return await catch_up(core, reader, topics, link, prefer=where, lang=lang)
