"""`bridgebot serve`: the archive pages, checked over HTTP and in a real headless Chromium."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import pytest

from bridgebot.core.commands import CommandContext, run_command
from bridgebot.demo.script import load_seed
from bridgebot.runtime import Runtime
from bridgebot.web.archive import ArchiveServer, format_seen, parse_seen

from ..auxil.world import FACILITATOR, FORUM, person
from ..test_seed_discussion import replay_seed
from .browser import FLAGS, chromium

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SEED_HEADINGS = [
    (0, "Engaging governmental allies in Jordan"),
    (0, "Engaging government allies in Russia"),
    (0, "Science and Technology for Human Rights"),
    (1, "Re: Science and Technology for Human Rights"),
    (2, "Re: Science and Technology for Human Rights"),
    (0, "Engaging Men & Faith-based groups in Women's Rights Work"),
    (0, "Faith-based or religious groups: allies or adversaries?"),
    (0, "Engaging Youth and Diaspora"),
]


class Page(HTMLParser):
    """What a reader sees of a page: headings with their nesting, and all the text."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.depth = -1
        self.headings: list[tuple[int, str]] = []
        self.new_posts: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None
        self._buffer = ""
        self._classes: list[str | None] = []
        self._skip: str | None = None
        self.title = ""
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("title", "style", "script"):
            self._skip = tag
        if tag == "article":
            self.depth += 1
            self._classes.append(dict(attrs).get("class"))
        if tag in ("h1", "h2"):
            self._in, self._buffer = tag, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == self._skip:
            self._skip = None
        if tag == "article":
            self.depth -= 1
            self._classes.pop()
        if tag == self._in == "h2":
            self.headings.append((self.depth, self._buffer))
            if self._classes and self._classes[-1] == "new":
                self.new_posts.append(self._buffer)
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._skip == "title":
            self.title += data
        if self._skip:
            return
        self.text.append(data)
        if self._in:
            self._buffer += data

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture
async def served(runtime: Runtime) -> AsyncIterator[tuple[ArchiveServer, str]]:
    server = ArchiveServer(runtime.store, refresh_seconds=1)
    port = await server.start("127.0.0.1", 0)
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await server.stop()


async def browse(*args: str) -> str:
    """Run headless Chromium with a fresh profile and return what it printed."""
    with tempfile.TemporaryDirectory() as profile:
        proc = await asyncio.create_subprocess_exec(
            chromium(), *FLAGS, f"--user-data-dir={profile}", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


async def test_the_seed_discussion_page_renders_in_a_real_browser(runtime, console, served):
    topic_id = await replay_seed(runtime, console)
    _, base = served
    url = f"{base}/topics/{topic_id}/"
    page = Page(await browse("--dump-dom", url))
    seed = load_seed()
    assert page.title == seed.title
    text = page.all_text
    assert text.startswith(f"← All topics · markdown · json {seed.title} 9 posts / 9 new")
    assert page.headings == SEED_HEADINGS
    assert all(q in text for q in seed.questions)
    assert "#6 · Jessica(2) · console" in text
    assert text.endswith("Topic locked")
    assert "Live:" not in text, "a locked topic does not refresh itself"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "archive-topic.png"
    shot.unlink(missing_ok=True)
    await browse(f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    index = Page(await browse("--dump-dom", f"{base}/"))
    assert f"{seed.title} 9 posts / 9 new by Practitioner, Sri Lanka" in index.all_text


async def test_the_index_counts_posts_new_since_the_readers_last_visit(runtime, console, served):
    topic_id = await replay_seed(runtime, console, lock=False)
    _, base = served
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1, as a browser does
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async def get(path: str) -> str:
            async with http.get(base + path) as response:
                assert response.status == 200, path
                return await response.text()

        assert "9 posts / 9 new" in await get("/")
        first = Page(await get(f"/topics/{topic_id}/"))
        assert len(first.new_posts) == 8, "every comment is new on a first visit"
        assert "9 posts / 0 new" in await get("/")
        prompts = await runtime.store.prompts(topic_id)
        third = (await runtime.store.messages_on(FORUM, prompt_id=prompts[2].id))[0]
        await console.say("forum", person("Newcomer"), "From Kenya\n\n<script>alert(1)</script>",
                          reply_to=third)
        assert "10 posts / 1 new" in await get("/")
        page = await get(f"/topics/{topic_id}/")
        assert Page(page).new_posts == ["From Kenya"]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
        assert 'fetch("state.json"' in page, "an open topic refreshes itself"
        assert "9 posts / 0 new" not in await get("/")


async def test_state_json_changes_when_the_topic_does_and_errors_are_polite(runtime, console,
                                                                            served):
    topic_id = await replay_seed(runtime, console, lock=False)
    _, base = served
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/topics/{topic_id}/state.json") as response:
            before = await response.json()
        assert before["posts"] == 9 and before["status"] == "open"
        await run_command(runtime.core, CommandContext(FACILITATOR, FORUM), "lock", "Thanks")
        async with http.get(f"{base}/topics/{topic_id}/state.json") as response:
            after = await response.json()
        assert after["status"] == "locked" and after["version"] != before["version"]
        async with http.get(f"{base}/topics/{topic_id}", allow_redirects=False) as response:
            assert response.status == 308 and response.headers["Location"] == f"{topic_id}/"
        async with http.get(f"{base}/topics/99/") as response:
            assert response.status == 404
            assert "There is no topic 99." in await response.text()
        async with http.get(f"{base}/topics/{topic_id}/archive.md") as response:
            assert (await response.text()).startswith("# How have you engaged allies")


def test_the_seen_cookie_survives_garbage():
    assert parse_seen("1-9.2-3.x-1.4-.5") == {1: 9, 2: 3}
    assert parse_seen(None) == {}
    assert format_seen({2: 3, 1: 9}) == "1-9.2-3"
    assert re.fullmatch(r"[\d.-]+", format_seen({i: i for i in range(500)}))
    assert len(parse_seen(format_seen({i: i for i in range(500)}))) == 200


async def test_serve_listens_on_the_given_port(db_setting):
    runtime = Runtime(db_setting, [])
    await runtime.open()
    server = ArchiveServer(runtime.store)
    try:
        port = await server.start("127.0.0.1", 0)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as response:
            assert "No topics yet." in await response.text()
    finally:
        await server.stop()
        await runtime.db.close()



async def test_bridgebot_serve_runs_until_stopped(tmp_path, db_setting):
    env = {**os.environ, "BRIDGEBOT_DATABASE": str(db_setting)}
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("bridgebot")), "serve", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        async with aiohttp.ClientSession() as http, http.get(url[0]) as response:
            assert response.status == 200 and "No topics yet." in await response.text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_a_topic_id_too_large_for_the_database_is_no_such_topic(runtime, console, served):
    await replay_seed(runtime, console, lock=False)
    _, base = served
    async with aiohttp.ClientSession() as http:
        for huge in ("99999999999999999999", str(2**63), "0" * 30 + "1" * 25, "7" * 5000):
            for path in ("/", "/state.json", "/archive.md", "/archive.json"):
                async with http.get(f"{base}/topics/{huge}{path}") as response:
                    assert response.status == 404, (huge, path)
                    assert "There is no topic" in await response.text()


async def test_a_long_topic_is_read_in_pages_of_whole_threads_newest_first(runtime, console):
    """Past ``page_posts`` comments the page shows whole threads a page at a time (the seed's
    eight comments in threads of 1, 1, 3, 1, 1, 1 make pages of 2, 3 and 3 at three a page);
    every comment is on exactly one page, replies under their parent; the header counts the
    whole topic, the first comment new to the reader is linked wherever it is, and the
    export stays whole."""
    topic_id = await replay_seed(runtime, console, lock=False)
    server = ArchiveServer(runtime.store, page_posts=3)
    base = f"http://127.0.0.1:{await server.start('127.0.0.1', 0)}/topics/{topic_id}/"
    try:
        async with aiohttp.ClientSession() as http:
            async def get(path: str, status: int = 200) -> str:
                async with http.get(base + path) as response:
                    assert response.status == status, path
                    return await response.text()

            newest = await get("")
            assert Page(newest).headings == SEED_HEADINGS[5:]
            assert "9 posts / 9 new" in Page(newest).all_text, "the header counts every page"
            assert "Page 3 of 3" in newest and 'href="?page=2" rel="prev"' in newest
            assert 'href="?page=1#post-2">First new comment' in newest
            assert "Newer →" not in newest
            shown = [Page(await get(f"?page={n}")).headings for n in (1, 2, 3)]
            assert shown == [SEED_HEADINGS[:2], SEED_HEADINGS[2:5], SEED_HEADINGS[5:]]
            assert [h for page in shown for h in page] == SEED_HEADINGS
            assert 'href="#post-2">First new comment' in await get("?page=1")
            assert "This topic has 3 pages." in await get("?page=4", status=404)
            assert "This topic has 3 pages." in await get("?page=x", status=404)
            whole = await get("archive.html")
            assert Page(whole).headings == SEED_HEADINGS

            def facts(page: str) -> str:
                """The header's last post and opener: the whole topic's on every page."""
                found = re.search(r'<li class="last">.*?<li class="opened">.*?</li>', page, re.S)
                assert found is not None
                return found.group(0)

            oldest = await get("?page=1")
            assert facts(newest) == facts(oldest) == facts(whole)
            assert "9 posts / 9 new" in Page(oldest).all_text
    finally:
        await server.stop()


async def test_reading_one_page_of_a_long_topic_leaves_the_other_pages_news_new(runtime, console):
    """The reader's mark is one number per topic: opening the newest page first must not
    mark the older pages' comments as read (the mark errs towards "new", never "read")."""
    topic_id = await replay_seed(runtime, console, lock=False)
    server = ArchiveServer(runtime.store, page_posts=3)
    base = f"http://127.0.0.1:{await server.start('127.0.0.1', 0)}"
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1, as a browser does
    try:
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async def get(path: str) -> str:
                async with http.get(base + path) as response:
                    assert response.status == 200, path
                    return await response.text()

            topic = f"/topics/{topic_id}/"
            newest = Page(await get(topic))
            assert newest.headings == SEED_HEADINGS[5:] and len(newest.new_posts) == 3
            assert "9 posts / 8 new" in await get("/"), "pages 1 and 2 were not shown yet"
            oldest = Page(await get(topic + "?page=1"))
            assert oldest.headings == SEED_HEADINGS[:2] and len(oldest.new_posts) == 2
            assert "9 posts / 6 new" in await get("/")
            middle = Page(await get(topic + "?page=2"))
            assert len(middle.new_posts) == 3
            # One number per topic cannot say "page 3 was read before page 2": the newest
            # page's comments stay new until it is read after the older ones.
            assert "9 posts / 3 new" in await get("/")
            await get(topic)
            assert "9 posts / 0 new" in await get("/")
    finally:
        await server.stop()
