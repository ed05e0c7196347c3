"""The archive of a topic, shaped like the forum page it replaces.

Title, introduction, guiding questions, "N posts", then each comment with its
subject, author, platform and time, replies nested under it and titled
"Re: <parent subject>", and "Topic locked" at the end when it is.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridgebot.core.models import Post, Prompt, Topic
from bridgebot.core.platforms import Platforms
from bridgebot.core.ports import DiscussionPort
from bridgebot.core.text import short_subject


@dataclass(frozen=True)
class Archive:
    """A topic with everything the export shows; hidden posts are already left out.

    ``platform_names`` is how bylines name each platform ("telegram" -> "Telegram"); the
    core knows no platform, so whoever loads the archive passes the runtime's names.
    """

    topic: Topic
    prompts: list[Prompt]
    posts: list[Post]
    platform_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def comments(self) -> list[Post]:
        return [p for p in self.posts if not p.is_opening]

    def subject(self, post: Post) -> str:
        """The post's own subject, else "Re: <parent>", else its first words."""
        if post.subject:
            return post.subject
        parent = self._by_id.get(post.parent_id) if post.parent_id else None
        if parent is not None:
            parent_subject = self.subject(parent)
            return parent_subject if parent_subject.startswith("Re: ") else f"Re: {parent_subject}"
        return short_subject(post.text)

    @property
    def _by_id(self) -> dict[int, Post]:
        return {p.id: p for p in self.posts}

    def threads(self) -> Iterator[tuple[int, Post]]:
        """Comments in reading order, depth-first, with their nesting depth.

        A reply whose parent is hidden moves up to the nearest visible ancestor's level.
        """
        children: dict[int | None, list[Post]] = defaultdict(list)
        visible = self._by_id
        for post in self.comments:
            parent = post.parent_id if post.parent_id in visible else None
            children[parent].append(post)

        def walk(parent: int | None, depth: int) -> Iterator[tuple[int, Post]]:
            for post in children.get(parent, []):
                yield depth, post
                yield from walk(post.id, depth + 1)

        yield from walk(None, 0)


async def load_archive(store: DiscussionPort, topic_id: int, platforms: Platforms) -> Archive | None:
    """A topic with its questions and visible posts, as exports and archive pages show it,
    bylines naming ``platforms``."""
    topic = await store.topic(topic_id)
    if topic is None:
        return None
    return Archive(topic, await store.prompts(topic_id), await store.posts(topic_id),
                   platforms.display_names)


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _byline(archive: Archive, post: Post) -> str:
    platform = archive.platform_names.get(post.author_platform, post.author_platform)
    edited = f" (edited {_when(post.edited_at)})" if post.edited_at else ""
    return f"{post.author_name} · {platform} · {_when(post.created_at)}{edited}"


def _count(archive: Archive) -> str:
    n = len(archive.posts)
    return f"{n} post{'s' if n != 1 else ''}"


def to_markdown(archive: Archive) -> str:
    topic = archive.topic
    out = [f"# {topic.title}", "", _count(archive), ""]
    if topic.introduction:
        out += [topic.introduction, ""]
    if archive.prompts:
        out += ["Guiding questions:", ""]
        out += [f"{p.position}. {p.question}" for p in archive.prompts]
        out.append("")
    out += [f"Opened by {topic.opened_by}, {_when(topic.opened_at)}", ""]
    for depth, post in archive.threads():
        level = "#" * min(2 + depth, 6)
        out += [f"{level} {archive.subject(post)}", "", f"#{post.number} · {_byline(archive, post)}", ""]
        out += [post.text, ""]
    if topic.is_locked:
        reason = f": {topic.lock_reason}" if topic.lock_reason else ""
        out.append(f"Topic locked{reason}")
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem;margin-bottom:.2rem}.count{color:#555}
article{border-left:3px solid #ccd;padding:.2rem 0 .2rem 1rem;margin:1.2rem 0}
article article{margin-left:.5rem}.byline{color:#666;font-size:.9rem}
.text{white-space:pre-wrap}.locked{font-weight:bold;color:#8a1c1c;margin-top:2rem}
.new>h2::after{content:"new";font-size:.7rem;vertical-align:middle;margin-left:.5rem;
padding:.1rem .4rem;border-radius:.5rem;background:#1c5d8a;color:#fff}
nav{font-size:.9rem;margin-bottom:1rem}
"""


@dataclass(frozen=True)
class PageExtras:
    """What the archive server adds around an exported page (trusted HTML, not user text):
    a link back to the index, a live-refresh script, and which posts are new to the reader."""

    head: str = ""
    top: str = ""
    bottom: str = ""
    new_after: int | None = None


def to_html(archive: Archive, extras: PageExtras | None = None) -> str:
    """One self-contained page; every piece of user text is escaped."""
    e = html.escape
    extras = extras or PageExtras()
    topic = archive.topic
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(topic.title)}</title><style>{_CSS}</style>{extras.head}</head><body>",
        extras.top,
        f'<header><h1>{e(topic.title)}</h1><p class="count">{_count(archive)}</p></header>',
        f'<section class="introduction"><p class="text">{e(topic.introduction)}</p>',
    ]
    if archive.prompts:
        parts.append('<ul class="prompts">')
        parts += [f"<li>{e(p.question)}</li>" for p in archive.prompts]
        parts.append("</ul>")
    parts.append("</section>")
    depth_open = 0
    for depth, post in archive.threads():
        while depth_open > depth:
            parts.append("</article>")
            depth_open -= 1
        new = extras.new_after is not None and post.number > extras.new_after
        css_class = ' class="new"' if new else ""
        parts.append(
            f'<article id="post-{post.number}"{css_class}>'
            f"<h2>{e(archive.subject(post))}</h2>"
            f'<p class="byline">#{post.number} · {e(_byline(archive, post))}</p>'
            f'<p class="text">{e(post.text)}</p>'
        )
        depth_open = depth + 1
    parts += ["</article>"] * depth_open
    if topic.is_locked:
        reason = f": {e(topic.lock_reason)}" if topic.lock_reason else ""
        parts.append(f'<p class="locked">Topic locked{reason}</p>')
    parts += [extras.bottom, "</body></html>"]
    return "\n".join(parts) + "\n"


def to_json(archive: Archive) -> str:
    topic = archive.topic
    by_id = {p.id: p for p in archive.posts}
    data = {
        "id": topic.id,
        "title": topic.title,
        "introduction": topic.introduction,
        "status": topic.status.value,
        "opened_by": topic.opened_by,
        "opened_at": topic.opened_at.isoformat(),
        "locked_at": topic.locked_at.isoformat() if topic.locked_at else None,
        "lock_reason": topic.lock_reason,
        "post_count": len(archive.posts),
        "prompts": [{"position": p.position, "question": p.question} for p in archive.prompts],
        "posts": [
            {
                "number": p.number,
                "subject": archive.subject(p),
                "author": p.author_name,
                "platform": p.author_platform,
                "created_at": p.created_at.isoformat(),
                "edited_at": p.edited_at.isoformat() if p.edited_at else None,
                "parent": by_id[p.parent_id].number if p.parent_id in by_id else None,
                "prompt": next((q.position for q in archive.prompts if q.id == p.prompt_id), None),
                "text": p.text,
            }
            for p in archive.comments
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


FORMATS = {"markdown": to_markdown, "html": to_html, "json": to_json}
