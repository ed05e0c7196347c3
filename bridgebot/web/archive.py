"""``bridgebot serve``: the archive of every topic as web pages, like the forum it replaces.

The index lists topics with "9 posts / 2 new" (new since the reader's last visit of
each topic, remembered in a cookie, as the forum did for signed-in readers), the last
post and whether the topic is open. A topic page is the html export; while the topic
is open a small script asks ``state.json`` every few seconds and reloads when
something changed, so a reader watching a live discussion sees new posts arrive.

Read-only, off by default, and bound to 127.0.0.1 unless told otherwise: put a
reverse proxy in front to publish it. Every piece of user text is escaped.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import web

from bridgebot.adapters import registry
from bridgebot.core.attachments import shows_inline
from bridgebot.core.export import (
    FORMATS,
    TEMPLATES,
    Archive,
    PageExtras,
    pages,
    thread_groups,
    to_html,
    walk,
)
from bridgebot.core.models import OPENING_NUMBER, Post, PostStub, Topic
from bridgebot.core.platforms import Platforms
from bridgebot.core.ports import DiscussionPort, FilePort

log = logging.getLogger(__name__)

COOKIE = "bridgebot_seen"
COOKIE_MAX_TOPICS = 200
COOKIE_AGE = 400 * 24 * 3600  # browsers cap cookies at about 400 days
# SQLite's integers are 64-bit: a larger id names no topic (and must not reach the database).
MAX_TOPIC_ID = 2**63 - 1
REFRESH_SECONDS = 5.0
# A topic page shows about this many comments (whole threads); a longer topic is cut into
# pages, the newest first, each linking the others. The exports stay whole.
PAGE_POSTS = 500
# Names authors on the pages as the bridge does, or with pseudonyms (core/privacy.py).
Presenter = Callable[[Archive], Awaitable[Archive]]

_INDEX_CSS = """
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.5rem;border-bottom:1px solid #dde}
.counts{white-space:nowrap}.new{color:#1c5d8a;font-weight:bold}.status{color:#555}
"""


def parse_seen(value: str | None) -> dict[int, int]:
    """``"1-9.2-3"`` → {1: 9, 2: 3}: per topic, the last post number the reader saw.

    Anything malformed is ignored: a cookie is the reader's to edit.
    """
    seen: dict[int, int] = {}
    for pair in (value or "").split("."):
        topic, _, number = pair.partition("-")
        if topic.isdigit() and number.isdigit():
            seen[int(topic)] = int(number)
    return seen


def format_seen(seen: dict[int, int]) -> str:
    newest = sorted(seen.items())[-COOKIE_MAX_TOPICS:]
    return ".".join(f"{topic}-{number}" for topic, number in newest)


class ArchiveServer:
    """The aiohttp application over a store; :meth:`start` binds it."""

    def __init__(self, store: DiscussionPort, *, refresh_seconds: float = REFRESH_SECONDS,
                 present: Presenter | None = None, platforms: Platforms | None = None,
                 languages: Mapping[str, str] | None = None,
                 files: FilePort | None = None, page_posts: int = PAGE_POSTS) -> None:
        self.store = store
        self.page_posts = page_posts
        # The posts' stored files, served beside each page (None: none are served).
        self.files = files
        # Each bridge's language (by bridge name): its pages' ``lang``.
        self.languages = dict(languages or {})
        # Display names in bylines: the registered platforms unless the runtime says otherwise.
        self.platforms = platforms if platforms is not None else registry.core_platforms()
        self.present = present
        self.refresh_seconds = refresh_seconds
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get(r"/topics/{id:\d+}", self.to_slash)
        app.router.add_get(r"/topics/{id:\d+}/", self.topic_page)
        app.router.add_get(r"/topics/{id:\d+}/state.json", self.state)
        app.router.add_get(r"/topics/{id:\d+}/archive.{fmt:md|json|html}", self.download)
        app.router.add_get(r"/topics/{id:\d+}/files/{ab:[0-9a-f]{2}}/{sha:[0-9a-f]{64}}", self.file)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 8081) -> int:
        """Listen on ``host:port`` (0: any free port); return the port."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self.port = int(self._runner.addresses[0][1])
        log.info("archive pages on http://%s:%d/", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- pages -------------------------------------------------------------------

    async def _archive(self, request: web.Request) -> Archive:
        topic = await self._topic(request)
        return await self._presented(
            Archive(topic, await self.store.prompts(topic.id), await self.store.posts(topic.id),
                    self.platforms.display_names, self.language(topic)))

    async def _topic(self, request: web.Request) -> Topic:
        digits = request.match_info["id"].lstrip("0") or "0"
        # Python refuses int() of over 4300 digits: such an id is simply too large.
        topic_id = int(digits) if len(digits) <= 19 else MAX_TOPIC_ID + 1
        topic = await self.store.topic(topic_id) if topic_id <= MAX_TOPIC_ID else None
        if topic is None:
            shown = str(topic_id) if topic_id <= MAX_TOPIC_ID else f"{digits[:20]}…"
            raise web.HTTPNotFound(text=_page("No such topic", (
                f"<h1>No such topic</h1><p>There is no topic {shown}. "
                '<a href="../../">All topics</a></p>')), content_type="text/html")
        return topic

    def language(self, topic: Topic) -> str:
        return self.languages.get(topic.bridge, "en")

    async def _presented(self, archive: Archive) -> Archive:
        return await self.present(archive) if self.present is not None else archive

    async def index(self, request: web.Request) -> web.Response:
        seen = parse_seen(request.cookies.get(COOKIE))
        counts = await self.store.topic_counts()
        rows = [await self._index_row(topic, seen.get(topic.id, 0), *counts.get(topic.id, (0, 0)))
                for topic in reversed(await self.store.topics())]
        languages = set(self.languages.values()) or {"en"}
        page = TEMPLATES.get_template("index.html.j2").render(
            rows=rows, language=languages.pop() if len(languages) == 1 else "en")
        return web.Response(text=page, content_type="text/html")

    async def _index_row(self, topic: Topic, seen: int, count: int, newest: int) -> IndexRow:
        """One topic's row from its counts (no post is read but the newest): the index of
        100,000 posts costs what one of a hundred does.

        The row shows what the topic page shows: the presented title (anonymized pages
        scrub names from it) and the presented author of the last post.
        """
        newest_post = await self.store.post_by_number(topic.id, newest) if newest else None
        shown = await self._presented(Archive(topic, [], [newest_post] if newest_post else []))
        last = shown.posts[-1] if shown.posts else None
        if seen <= 0:
            new = count
        else:
            new = await self.store.visible_after(topic.id, seen) if newest > seen else 0
        return IndexRow(
            topic=shown.topic, language=self.language(topic),
            count=f"{count} post{'s' if count != 1 else ''}", new=new, last=last,
            when=last.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if last else "",
        )

    async def to_slash(self, request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect(f"{request.match_info['id']}/")

    async def topic_page(self, request: web.Request) -> web.Response:
        topic = await self._topic(request)
        seen = parse_seen(request.cookies.get(COOKIE))
        new_after = seen.get(topic.id, 0)
        # Where each visible post stands (no words read): a topic longer than a page is
        # read a page of whole threads at a time, and only that page's posts are loaded.
        outline = await self.store.post_outline(topic.id)
        split = pages(thread_groups(walk(outline)), self.page_posts)
        top = ('<nav><a href="../../">← All topics</a> · <a href="archive.md">markdown</a> · '
               '<a href="archive.json">json</a></nav>')
        if len(split) == 1:
            archive = await self._presented(Archive(
                topic, await self.store.prompts(topic.id), await self.store.posts(topic.id),
                self.platforms.display_names, self.language(topic)))
            extras = PageExtras(top=top, new_after=new_after,
                                bottom="" if topic.is_locked else self._refresh_script(archive))
            last = max((p.number for p in archive.posts), default=0)
        else:
            number, nav = self._nav(request, outline, split, new_after)
            shown = split[number - 1]
            # The page's posts, the opening post (who opened the topic) and the newest
            # (the header's last post).
            wanted = [stub.id for _, stub in shown] + [outline[0].id, outline[-1].id]
            archive = await self._presented(Archive(
                topic, await self.store.prompts(topic.id),
                await self.store.posts_by_ids(topic.id, wanted),
                self.platforms.display_names, self.language(topic)))
            by_id = {p.id: p for p in archive.posts}  # a post hidden meanwhile is left out
            count, last, edited = await self.store.topic_state(topic.id)
            extras = PageExtras(
                top=top, new_after=new_after, nav=nav,
                comments=[(depth, by_id[stub.id]) for depth, stub in shown if stub.id in by_id],
                numbers=[stub.number for stub in outline],
                bottom="" if topic.is_locked else self._refresh_script_for(
                    _version_of(count, last, archive.topic, edited)))
            # The reader's mark moves only over what they were shown: it stops before the
            # first new comment that is on another page (one mark per topic, so a reader
            # who opens the newest page first still finds the older pages' news marked).
            on_page = {stub.number for _, stub in shown}
            after = max(new_after, OPENING_NUMBER)  # the opening post is never a new comment
            elsewhere = min((s.number for s in outline if s.number > after
                             and s.number not in on_page), default=None)
            last = outline[-1].number if elsewhere is None else elsewhere - 1
        response = web.Response(text=to_html(archive, extras), content_type="text/html")
        seen[topic.id] = max(last, seen.get(topic.id, 0))
        response.set_cookie(COOKIE, format_seen(seen), max_age=COOKIE_AGE, path="/",
                            httponly=True, samesite="Lax")
        return response

    def _nav(self, request: web.Request, outline: Sequence[PostStub],
             split: Sequence[Sequence[tuple[int, PostStub]]], new_after: int) -> tuple[int, str]:
        """Which page of a long topic is asked for (``?page=N``, 1 the oldest; without it the
        newest) and the links to the others, the first comment new to the reader linked
        wherever it is."""
        count = len(split)
        asked = request.query.get("page", "")
        number = int(asked) if asked.isdigit() and len(asked) <= 6 else 0
        if not asked:
            number = count
        elif not 1 <= number <= count:
            raise web.HTTPNotFound(text=_page("No such page", (
                f"<h1>No such page</h1><p>This topic has {count} pages. "
                '<a href="./">Its newest page</a></p>')), content_type="text/html")
        links = [f"Page {number} of {count}"]
        if number > 1:
            links.append(f'<a href="?page={number - 1}" rel="prev">← Older</a>')
        if number < count:
            links.append(f'<a href="?page={number + 1}" rel="next">Newer →</a>')
        after = max(new_after, OPENING_NUMBER)  # the opening post is never a new comment
        first_new = min((p.number for p in outline if p.number > after), default=None)
        if first_new is not None:
            where = next(i for i, page in enumerate(split, 1)
                         if any(post.number == first_new for _, post in page))
            href = f"#post-{first_new}" if where == number else f"?page={where}#post-{first_new}"
            links.append(f'<a href="{href}">First new comment</a>')
        return number, f'<nav class="pages">{" · ".join(links)}</nav>'

    def _refresh_script(self, archive: Archive) -> str:
        """Reload when the topic changes; stop asking once it is locked."""
        return self._refresh_script_for(_version(archive))

    def _refresh_script_for(self, known: str) -> str:
        """The script for a page showing the topic at version ``known`` (``state.json``'s)."""
        version = json.dumps(known)
        every = int(self.refresh_seconds * 1000)
        return (
            f'<p class="live" id="live">Live: this page refreshes when someone posts.</p>'
            f"<script>(function(){{var known={version};var timer=setInterval(function(){{"
            'fetch("state.json",{cache:"no-store"}).then(function(r){return r.json();})'
            ".then(function(s){if(s.version!==known){clearInterval(timer);location.reload();}})"
            f".catch(function(){{}});}},{every});}})();</script>"
        )

    async def state(self, request: web.Request) -> web.Response:
        """What a live page polls every few seconds: counts from the posts' index, no post
        read, so many open pages cost the database little."""
        topic = await self._topic(request)
        count, last, edited = await self.store.topic_state(topic.id)
        return web.json_response({
            "topic": topic.id,
            "posts": count,
            "last": last,
            "status": topic.status.value,
            "version": _version_of(count, last, topic, edited),
        }, headers={"Cache-Control": "no-store"})

    async def download(self, request: web.Request) -> web.Response:
        archive = await self._archive(request)
        fmt = {"md": "markdown"}.get(request.match_info["fmt"], request.match_info["fmt"])
        types = {"markdown": "text/markdown", "json": "application/json", "html": "text/html"}
        return web.Response(text=FORMATS[fmt](archive), content_type=types[fmt], charset="utf-8")


    async def file(self, request: web.Request) -> web.StreamResponse:
        """A file of a visible post of this topic (a hidden post's files are not served), by
        its hash: images inline with their type, anything else as a download that the browser
        may neither sniff nor run."""
        archive = await self._archive(request)
        sha = request.match_info["sha"]
        found = next((a for p in archive.posts for a in p.attachments if a.sha256 == sha), None)
        if request.match_info["ab"] != sha[:2]:
            found = None
        path = self.files.path(found) if found is not None and self.files is not None else None
        if found is None or path is None:
            raise web.HTTPNotFound(text="No such file in this topic.")
        headers = {"Content-Type": found.mime_type, "X-Content-Type-Options": "nosniff",
                   "Cache-Control": "private, max-age=3600"}
        if not shows_inline(found):
            headers["Content-Disposition"] = (
                f"attachment; filename*=UTF-8''{quote(found.name, safe='')}")
            headers["Content-Security-Policy"] = "sandbox"
        return web.FileResponse(path, headers=headers)


@dataclass(frozen=True)
class IndexRow:
    """One topic on the index: what the template shows."""

    topic: Topic
    language: str
    count: str
    new: int
    last: Post | None
    when: str


def _version(archive: Archive) -> str:
    """Changes whenever a post is added, edited or hidden, or the topic locks."""
    posts = archive.posts
    edited = max((p.edited_at for p in posts if p.edited_at), default=None)
    last = max((p.number for p in posts), default=0)
    return _version_of(len(posts), last, archive.topic, edited)


def _version_of(count: int, last: int, topic: Topic, edited: datetime | None) -> str:
    """The same version from counts (``state.json``) as from a page's posts."""
    edits = edited.timestamp() if edited is not None else 0
    return f"{count}-{last}-{topic.status.value}-{edits:.0f}"


def _page(title: str, body: str, css: str = _INDEX_CSS) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{css}</style></head><body>{body}</body></html>")
