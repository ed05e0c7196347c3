"""The archive of a topic, shaped like the forum page it replaces.

Title, a header ("N posts", last post, opened by, status), the introduction with the
guiding questions where it introduces them, then each comment with its subject, author,
platform, time and the question it answers, replies nested under it and titled
"Re: <parent subject>", and "Topic locked" at the end when it is. The html, markdown and
json exports show the same facts; the html comes from a Jinja2 template that escapes
every piece of user text (``bridgebot/templates/topic.html.j2``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Protocol, TypeVar

from jinja2 import Environment, PackageLoader, select_autoescape
from jinja2.filters import do_truncate
from markupsafe import Markup

from bridgebot.core import richtext
from bridgebot.core.attachments import file_href, file_line, human_size, shows_inline
from bridgebot.core.models import Attachment, Post, Prompt, Topic, opens_topic
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
    # The bridge's language: the page's ``lang`` (people's own texts carry ``dir="auto"``).
    language: str = "en"

    @property
    def comments(self) -> list[Post]:
        return [p for p in self.posts if not p.is_opening]

    @property
    def last_post(self) -> Post | None:
        return max(self.posts, key=lambda p: p.number, default=None)

    def answers(self, post: Post) -> Prompt | None:
        """The guiding question ``post`` answers, unless its parent answers the same one
        (a reply to an answer need not say it again)."""
        prompt = self._prompt_by_id.get(post.prompt_id) if post.prompt_id else None
        parent = self._by_id.get(post.parent_id) if post.parent_id else None
        if prompt is None or (parent is not None and parent.prompt_id == post.prompt_id):
            return None
        return prompt

    def subject(self, post: Post) -> str:
        """The post's own subject, else "Re: <parent>", else its first words.

        Each post's subject is worked out once (a reply's from its parent's, already
        known), so a whole page costs time in proportion to its posts, and a long chain
        of replies needs no recursion.
        """
        known = self._subjects
        chain: list[Post] = []
        current: Post | None = post
        while current is not None and current.id not in known:
            chain.append(current)
            if current.subject:
                break
            current = self._by_id.get(current.parent_id) if current.parent_id else None
        for item in reversed(chain):
            parent = self._by_id.get(item.parent_id) if item.parent_id else None
            if item.subject:
                known[item.id] = item.subject
            elif parent is not None:
                above = known[parent.id]
                known[item.id] = above if above.startswith("Re: ") else f"Re: {above}"
            else:
                known[item.id] = short_subject(item.text)
        return known[post.id]

    @cached_property
    def _by_id(self) -> dict[int, Post]:
        return {p.id: p for p in self.posts}

    @cached_property
    def _prompt_by_id(self) -> dict[int, Prompt]:
        return {q.id: q for q in self.prompts}

    @cached_property
    def _subjects(self) -> dict[int, str]:
        return {}

    def threads(self) -> Iterator[tuple[int, Post]]:
        """Comments in reading order, depth-first, with their nesting depth (:func:`walk`)."""
        return walk(self.posts)


class Node(Protocol):
    """What the reading order needs of a post: a :class:`Post` or a :class:`PostStub`."""

    @property
    def id(self) -> int: ...
    @property
    def number(self) -> int: ...
    @property
    def parent_id(self) -> int | None: ...


N = TypeVar("N", bound=Node)


def walk(posts: Sequence[N]) -> Iterator[tuple[int, N]]:
    """The visible ``posts``' comments (all but the opening post) in reading order,
    depth-first, with their nesting depth.

    A reply whose parent is hidden (not among ``posts``) stands at the top level. Walked
    with a stack of its own, so however deep a chain of replies runs it needs no recursion.
    """
    children: dict[int | None, list[N]] = defaultdict(list)
    visible = {p.id for p in posts}
    for post in posts:
        if opens_topic(post.number):
            continue
        parent = post.parent_id if post.parent_id in visible else None
        children[parent].append(post)
    stack: list[tuple[int, N]] = [(0, p) for p in reversed(children.get(None, []))]
    while stack:
        depth, post = stack.pop()
        yield depth, post
        below = children.get(post.id)
        if below:  # most comments have no replies: nothing to push
            stack.extend([(depth + 1, child) for child in reversed(below)])


async def load_archive(store: DiscussionPort, topic_id: int, platforms: Platforms,
                       languages: Mapping[str, str] | None = None) -> Archive | None:
    """A topic with its questions and visible posts, as exports and archive pages show it,
    bylines naming ``platforms``, in its bridge's language (``languages`` by bridge name)."""
    topic = await store.topic(topic_id)
    if topic is None:
        return None
    return Archive(topic, await store.prompts(topic_id), await store.posts(topic_id),
                   platforms.display_names, (languages or {}).get(topic.bridge, "en"))


_TWO_DIGITS = [f"{n:02d}" for n in range(60)]


def _when(value: datetime) -> str:
    """"2027-03-22 13:00 UTC": what ``strftime("%Y-%m-%d %H:%M UTC")`` gives, written from
    the date's fields (a 10,000-post page writes 10,000 of these: ``strftime`` took ~25 ms
    of it, ``isoformat`` ~13 ms, the fields ~4 ms)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    two = _TWO_DIGITS
    return (f"{value.year:04d}-{two[value.month]}-{two[value.day]} "
            f"{two[value.hour]}:{two[value.minute]} UTC")


def _platform(archive: Archive, post: Post) -> str:
    return archive.platform_names.get(post.author_platform, post.author_platform)


def _byline(archive: Archive, post: Post) -> str:
    edited = f" (edited {_when(post.edited_at)})" if post.edited_at else ""
    return f"{post.author_name} · {_platform(archive, post)} · {_when(post.created_at)}{edited}"


def _count(archive: Archive, count: int | None = None) -> str:
    n = len(archive.posts) if count is None else count
    return f"{n} post{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class Header:
    """The facts the forum showed above a topic, for every export alike."""

    count: str
    last_by: str | None
    last_at: str | None
    opened_by: str
    opened_at: str
    status: str
    locked_at: str | None

    def lines(self) -> list[str]:
        out = [self.count]
        if self.last_by is not None:
            out.append(f"Last post by {self.last_by} on {self.last_at}")
        out.append(f"Opened by {self.opened_by} on {self.opened_at}")
        if self.status == "locked":
            out.append(f"Locked on {self.locked_at}" if self.locked_at else "Locked")
        else:
            out.append("Open")
        return out


def header(archive: Archive, count: int | None = None) -> Header:
    """The header's facts; ``count``: the topic's visible posts when ``archive`` holds one
    page of them (its newest post among them)."""
    topic, last = archive.topic, archive.last_post
    return Header(
        count=_count(archive, count),
        last_by=last.author_name if last is not None else None,
        last_at=_when(last.created_at) if last is not None else None,
        opened_by=topic.opened_by,
        opened_at=_when(topic.opened_at),
        status=topic.status.value,
        locked_at=_when(topic.locked_at) if topic.is_locked and topic.locked_at else None,
    )


def _question_line(prompt: Prompt) -> str:
    return f"Question {prompt.position}: {short_subject(prompt.question, words=12)}"


def to_markdown(archive: Archive) -> str:
    topic = archive.topic
    before, after = topic.introduction_parts
    out = [f"# {topic.title}", "", " · ".join(header(archive).lines()), ""]
    if before:
        out += [richtext.to_markdown(before), ""]
    if archive.prompts:
        out += ["Guiding questions:", ""]
        out += [f"{p.position}. {p.question}" for p in archive.prompts]
        out.append("")
    if after:
        out += [richtext.to_markdown(after), ""]
    questions: dict[int, str] = {}  # each question's line, worked out once
    for depth, post in archive.threads():
        level = "#" * min(2 + depth, 6)
        out += [f"{level} {archive.subject(post)}", "", f"#{post.number} · {_byline(archive, post)}"]
        prompt = archive.answers(post) if post.prompt_id else None
        if prompt is not None:
            line = questions.get(prompt.id)
            if line is None:
                line = questions[prompt.id] = f"*{_question_line(prompt)}*"
            out.append(line)
        out += ["", richtext.to_markdown(post.text, post.spans), ""]
        if post.attachments:
            out += [_markdown_file(a) for a in post.attachments] + [""]
    if topic.is_locked:
        reason = f": {topic.lock_reason}" if topic.lock_reason else ""
        out.append(f"Topic locked{reason}")
    return "\n".join(out).rstrip() + "\n"


def _markdown_file(attachment: Attachment) -> str:
    """An image shown, another file linked (``files/<sha256>/<name>`` beside the export),
    a file that never arrived named."""
    if not attachment.stored:
        return f"- {file_line(attachment)}"
    name = attachment.name.replace("[", "(").replace("]", ")")
    if shows_inline(attachment):
        return f"![{name}]({file_href(attachment)})"
    return (f"- [{name}]({file_href(attachment)}) ({attachment.mime_type}, "
            f"{human_size(attachment.size)})")


@dataclass(frozen=True)
class PageExtras:
    """What the archive server adds around an exported page (trusted HTML, not user text):
    a link back to the index, a live-refresh script, and which posts are new to the reader."""

    head: str = ""
    top: str = ""
    bottom: str = ""
    new_after: int | None = None
    # A page of a long topic: the comments it shows (see :func:`pages`; None: all of them),
    # the links to the other pages, above and below them, and every visible post's number
    # when the archive holds only this page's posts (the header counts the whole topic).
    comments: Sequence[tuple[int, Post]] | None = None
    nav: str = ""
    numbers: Sequence[int] | None = None


def thread_groups(order: Iterable[tuple[int, N]]) -> list[list[tuple[int, N]]]:
    """Comments in reading order (:func:`walk`) cut into threads: a comment that answers no
    visible comment and everything beneath it."""
    groups: list[list[tuple[int, N]]] = []
    for depth, post in order:
        if depth == 0 or not groups:
            groups.append([])
        groups[-1].append((depth, post))
    return groups


def pages(groups: Sequence[Sequence[tuple[int, N]]], size: int) -> list[list[tuple[int, N]]]:
    """Whole threads gathered into pages of about ``size`` comments, in reading order: a
    page is closed before the thread that would take it past ``size`` (a thread longer than
    that is a page of its own), so a reply always stands under its parent. Always at least
    one page."""
    out: list[list[tuple[int, N]]] = [[]]
    for group in groups:
        if out[-1] and len(out[-1]) + len(group) > size:
            out.append([])
        out[-1].extend(group)
    return out


# Past this depth replies stop indenting (a 7-deep thread keeps its text width) and say
# which post they answer instead.
MAX_INDENT = 4

TEMPLATES = Environment(
    loader=PackageLoader("bridgebot", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
)
TEMPLATES.filters["rich"] = richtext.to_html
TEMPLATES.filters["file_href"] = file_href
TEMPLATES.filters["inline"] = shows_inline
TEMPLATES.filters["size"] = human_size


RE_CLASS = ' class="re"'
_CLOSE = "</article>\n"


def _files(post: Post) -> str:
    """A post's files as the page shows them: images inline, other files linked."""
    esc = richtext.escape_text
    out = ['<div class="files">\n']
    for file in post.attachments:
        name = esc(file.name)
        if shows_inline(file):
            href = esc(file_href(file))
            out.append(f'<figure><a href="{href}"><img src="{href}" alt="{name}" loading="lazy">'
                       f'</a><figcaption dir="auto"><bdi>{name}</bdi></figcaption></figure>\n')
        elif file.stored:
            out.append(f'<p class="file">File: <a href="{esc(file_href(file))}" download="{name}">'
                       f'<bdi>{name}</bdi></a> ({esc(file.mime_type)}, '
                       f'{esc(human_size(file.size))})</p>\n')
        else:
            out.append(f'<p class="file">File: <bdi>{name}</bdi> ({esc(file.mime_type)}, '
                       f'{esc(human_size(file.size))}): not carried</p>\n')
    out.append("</div>\n")
    return "".join(out)


def _articles(archive: Archive, new_after: int | None,
              comments: Sequence[tuple[int, Post]] | None = None) -> list[str]:
    """Every comment's ``<article>`` in reading order, nested by depth, every piece of user
    text escaped as the template's autoescape does; joined once, with the page around them,
    by :func:`to_html` (each join of a 10,000-post page copies its ~7 MB).

    Built here in one pass rather than in a Jinja2 loop (which cost seconds for a
    10,000-post topic) or through a record per post: what is the same for many posts (a
    platform's name, a question's line) is escaped once.
    """
    esc = richtext.escape_text
    rich = richtext.html_text
    by_id = archive._by_id
    subjects = archive._subjects
    platforms: dict[str, str] = {}
    questions: dict[int, str] = {}
    authors: dict[str, str] = {}  # each name escaped once
    threads = list(archive.threads()) if comments is None else list(comments)
    # Each article closes itself and the ones it ends: how far the next one climbs back.
    next_depths = [depth for depth, _ in threads[1:]] + [0] if threads else []
    out: list[str] = []
    add = out.append
    for (depth, post), next_depth in zip(threads, next_depths, strict=True):
        number = post.number
        new = new_after is not None and number > new_after
        deep = depth >= MAX_INDENT
        classes = (f' class="{"new" if new else ""}{" " if new and deep else ""}'
                   f'{"deep" if deep else ""}"') if new or deep else ""
        platform = platforms.get(post.author_platform)
        if platform is None:
            platform = platforms[post.author_platform] = esc(_platform(archive, post))
        # A reply's parent came before it, so its subject is known; a post answering none
        # takes its first words (anything else: the general case).
        parent_id = post.parent_id
        subject = post.subject
        if not subject:
            above = subjects.get(parent_id) if parent_id else None
            if above is not None:
                subject = above if above.startswith("Re: ") else f"Re: {above}"
            elif parent_id in by_id:
                subject = archive.subject(post)
            else:
                subject = short_subject(post.text)
        subjects[post.id] = subject
        author = authors.get(post.author_name)
        if author is None:
            author = authors[post.author_name] = esc(post.author_name)
        # Dates are digits, "-", ":" and "UTC": nothing to escape.
        extra = f" (edited <bdi>{_when(post.edited_at)}</bdi>)" if post.edited_at else ""
        if depth > MAX_INDENT and parent_id:
            parent = by_id.get(parent_id)
            if parent is not None:
                extra += f' · in reply to <a href="#post-{parent.number}">#{parent.number}</a>'
        line = ""
        prompt = archive.answers(post) if post.prompt_id else None
        if prompt is not None:
            line = questions.get(prompt.id, "")
            if not line:
                question = do_truncate(TEMPLATES, prompt.question, 90)
                line = questions[prompt.id] = (
                    f'<p class="answers">Answers <a href="#question-{prompt.position}">question '
                    f'{prompt.position}</a>: <bdi>{esc(question)}</bdi></p>\n')
        close = depth + 1 - next_depth  # this article and the ones it ends
        add(f'<article id="post-{number}"{classes}>\n'
            f'<h2 dir="auto"{RE_CLASS if depth > 0 else ""}>{esc(subject)}</h2>\n'
            f'<p class="byline">#{number} · <bdi>{author}</bdi> · {platform} · '
            f'<bdi>{_when(post.created_at)}</bdi>{extra}</p>\n{line}'
            f'<div class="text">{rich(post.text, post.spans)}</div>\n'
            f'{_files(post) if post.attachments else ""}{_CLOSE * close}')
    return out


def to_html(archive: Archive, extras: PageExtras | None = None) -> str:
    """One self-contained page; every piece of user text is escaped (by the template's
    autoescape, and in each article by :func:`_articles`)."""
    extras = extras or PageExtras()
    before, after = archive.topic.introduction_parts
    numbers = extras.numbers if extras.numbers is not None else [p.number for p in archive.posts]
    new = (sum(1 for n in numbers if n > extras.new_after)
           if extras.new_after is not None else None)
    # The articles (megabytes for a long topic) go in after the template has run: through
    # Jinja2 they were copied three times (Markup, its escape, the output's join).
    page = TEMPLATES.get_template("topic.html.j2").render(
        archive=archive, topic=archive.topic, header=header(archive, len(numbers)), new=new,
        before=before, after=after, articles=[Markup(_ARTICLES)],
        max_indent=MAX_INDENT, head=Markup(extras.head), top=Markup(extras.top),
        bottom=Markup(extras.bottom), nav=Markup(extras.nav),
    )
    above, _, below = page.partition(_ARTICLES)
    parts = _articles(archive, extras.new_after, extras.comments)
    parts.insert(0, above)
    parts.append(below)
    return "".join(parts)


# Where the articles go in a rendered page: markup no user text can produce (the template
# escapes theirs), and no extra of the server's holds.
_ARTICLES = "<!-- bridgebot: the comments -->"


def to_json(archive: Archive) -> str:
    topic = archive.topic
    by_id = {p.id: p for p in archive.posts}
    before, after = topic.introduction_parts
    last = archive.last_post
    data = {
        "id": topic.id,
        "title": topic.title,
        "language": archive.language,
        "introduction": topic.chat_introduction,
        # The introduction around the guiding questions, as the page shows them.
        "introduction_before_questions": before,
        "introduction_after_questions": after,
        "status": topic.status.value,
        "opened_by": topic.opened_by,
        "opened_at": topic.opened_at.isoformat(),
        "locked_at": topic.locked_at.isoformat() if topic.locked_at else None,
        "lock_reason": topic.lock_reason,
        "post_count": len(archive.posts),
        "last_post": None if last is None else {
            "number": last.number, "author": last.author_name,
            "created_at": last.created_at.isoformat(),
        },
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
                "files": [{"name": a.name, "type": a.mime_type, "size": a.size,
                           "sha256": a.sha256 or None} for a in p.attachments],
            }
            for p in archive.comments
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


FORMATS = {"markdown": to_markdown, "html": to_html, "json": to_json}
