"""The archive as a reader meets it: questions where the introduction introduces them, the
forum's header, clickable links and lists, the question each post answers; Arabic pages,
phones (360 px), deep threads. Checked in a real headless Chromium; screenshots go to
test-artifacts/ for a person to look at."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridgebot.adapters.console.adapter import ConsoleAdapter
from bridgebot.core import richtext
from bridgebot.core.commands import CommandContext, run_command
from bridgebot.core.export import load_archive, to_json, to_markdown
from bridgebot.core.models import ChannelRef, Topic, TopicStatus
from bridgebot.core.platforms import Platforms
from bridgebot.core.service import Bridge
from bridgebot.demo.script import load_seed
from bridgebot.runtime import Runtime
from bridgebot.web.archive import ArchiveServer

from ..conftest import FACILITATOR, person
from ..test_seed_discussion import replay_seed
from .browser import Tab, browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
AR_ROOM = ChannelRef("console", "majlis")
NO_OVERFLOW = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
USER_TEXTS = "h1, article h2, .prompts li, .text p, .text ul, .locked bdi"


async def serve(runtime: Runtime, languages: dict[str, str] | None = None) -> ArchiveServer:
    server = ArchiveServer(runtime.store, refresh_seconds=60, languages=languages)
    await server.start("127.0.0.1", 0)
    return server


async def facts(tab: Tab) -> dict:
    """What the tests ask of a page, measured in the browser."""
    script = """(() => {
      const order = sel => { const el = document.querySelector(sel); if (!el) return -1;
        return [...document.querySelectorAll('*')].indexOf(el); };
      const texts = [...document.querySelectorAll('USER_TEXTS')];
      return {
        overflow: !(NO_OVERFLOW),
        before: order('.intro-before'), questions: order('ol.prompts'), after: order('.intro-after'),
        beforeText: (document.querySelector('.intro-before') || {}).innerText || '',
        afterText: (document.querySelector('.intro-after') || {}).innerText || '',
        header: document.querySelector('header') ? document.querySelector('header').innerText : '',
        withoutDir: texts.filter(el => el.getAttribute('dir') !== 'auto')
                         .map(el => el.outerHTML.slice(0, 80)),
        textCount: texts.length,
        links: [...document.querySelectorAll('.text a')].map(a => [a.href, a.rel]),
        listItems: document.querySelectorAll('.text ul li').length,
        answers: [...document.querySelectorAll('article > .answers')].map(p => p.innerText),
        h2Sizes: [...document.querySelectorAll('article > h2')].map(h => [h.className,
                   parseFloat(getComputedStyle(h).fontSize)]),
        textWidths: [...document.querySelectorAll('article > .text')].map(t => t.clientWidth),
        lang: document.documentElement.lang,
        h1Direction: getComputedStyle(document.querySelector('h1')).direction,
      };
    })()"""
    return await tab.js(script.replace("USER_TEXTS", USER_TEXTS).replace("NO_OVERFLOW", NO_OVERFLOW))


@pytest.fixture
async def tab() -> AsyncIterator[Tab]:
    async with browser() as opened:
        yield opened


async def test_the_seed_page_reads_like_the_forum_at_1200_and_360_px(runtime, console, tab):
    topic_id = await replay_seed(runtime, console)
    server = await serve(runtime)
    seed = load_seed()
    try:
        base = f"http://127.0.0.1:{server.port}"
        for width in (1200, 360):
            await tab.open(f"{base}/topics/{topic_id}/", width)
            page = await facts(tab)
            assert not page["overflow"], f"the topic page scrolls sideways at {width} px"
            # The introduction says "Consider these questions below" and goes on after them.
            assert 0 < page["before"] < page["questions"] < page["after"]
            assert page["beforeText"].rstrip().endswith("in this discussion topic:")
            assert page["afterText"].startswith("Share your thoughts")
            assert page["withoutDir"] == [] and page["textCount"] > 30
            header = page["header"]
            assert "9 posts" in header
            assert re.search(r"Last post by Practitioner, Sri Lanka on \d{4}-\d\d-\d\d", header)
            assert re.search(r"Opened by Kristin Antin on \d{4}-\d\d-\d\d", header)
            assert "Locked on" in header
            aaas = [link for link in page["links"] if "aaas.org" in link[0]]
            assert len(aaas) >= 4, page["links"]
            assert {rel for _, rel in page["links"]} == {"nofollow ugc noopener"}
            assert "http://www.aaas.org/oncallscientists" in [href for href, _ in aaas]
            assert page["listItems"] >= 11, "the seed's • lines are lists"
            assert page["answers"][0].startswith("Answers question 1: Share examples")
            assert len(page["answers"]) == 6, "one per comment, not repeated on replies"
            top = [size for css, size in page["h2Sizes"] if css != "re"]
            replies = [size for css, size in page["h2Sizes"] if css == "re"]
            assert len(replies) == 2 and max(replies) < min(top), "replies' titles are quieter"
            await tab.screenshot(ARTIFACTS / f"archive-topic-{width}.png")
            await tab.open(f"{base}/", width)
            index = await facts(tab)
            assert not index["overflow"], f"the index scrolls sideways at {width} px"
            assert seed.title in await tab.js("document.body.innerText")
            await tab.screenshot(ARTIFACTS / f"archive-index-{width}.png")
    finally:
        await server.stop()
    for name in ("topic-1200", "topic-360", "index-1200", "index-360"):
        shot = ARTIFACTS / f"archive-{name}.png"
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5_000


@pytest.fixture
async def arabic(db_setting: Path | str) -> AsyncIterator[tuple[Runtime, ConsoleAdapter]]:
    console = ConsoleAdapter()
    rt = Runtime(db_setting, [Bridge("majlis", (AR_ROOM,), language="ar")],
                 facilitators=[("console", FACILITATOR.user_id)])
    rt.add_adapter(console)
    await rt.start()
    yield rt, console
    await rt.stop()


AR_TITLE = "كيف أشركتم حلفاء غير تقليديين؟"
AR_INTRO = ("نستكشف في هذا الموضوع كيف يُشرك الحلفاء غير التقليديين. فكّروا في هذه الأسئلة:\n\n"
            "{questions}\n\nشاركونا أفكاركم وتجاربكم (انظروا https://example.org/دليل).")


async def open_arabic_thread(runtime: Runtime, console: ConsoleAdapter, depth: int) -> int:
    """An Arabic topic whose marker puts the question mid-introduction, and a thread
    ``depth`` replies deep."""
    ctx = CommandContext(FACILITATOR, AR_ROOM, message_id=None)
    await run_command(runtime.core, ctx, "newtopic", f"{AR_TITLE}\n{AR_INTRO}")
    await run_command(runtime.core, ctx, "prompt", "ما الأثر؟")
    await runtime.drain()
    topic = await runtime.store.latest_topic("majlis")
    assert topic is not None
    prompt = (await runtime.store.prompts(topic.id))[0]
    reply_to = (await runtime.store.messages_on(AR_ROOM, prompt_id=prompt.id))[0]
    for level in range(depth):
        author = person("ليلى حسن" if level % 2 == 0 else "Omar Haddad")
        shown, outcome = await console.say(
            "majlis", author, f"الرد رقم {level + 1}: عملنا مع البلدية، والنتيجة كانت جيدة جداً. " * 3,
            reply_to=reply_to)
        assert outcome.post is not None, outcome
        reply_to = shown.message_id
        await runtime.drain()
    return topic.id


async def test_an_arabic_topic_reads_right_to_left_on_a_phone(arabic, tab):
    runtime, console = arabic
    topic_id = await open_arabic_thread(runtime, console, depth=7)
    # The chats never see the marker: the question follows as its own message.
    opening = next(s for s in console.visible("majlis") if AR_TITLE in s.text)
    assert "{questions}" not in opening.text and "فكّروا في هذه الأسئلة" in opening.text
    server = await serve(runtime, {"majlis": "ar"})
    try:
        base = f"http://127.0.0.1:{server.port}"
        await tab.open(f"{base}/topics/{topic_id}/", 360)
        page = await facts(tab)
        assert page["lang"] == "ar" and page["h1Direction"] == "rtl"
        assert not page["overflow"]
        assert page["withoutDir"] == []
        assert 0 < page["before"] < page["questions"] < page["after"]
        assert page["links"] == [["https://example.org/%D8%AF%D9%84%D9%8A%D9%84", "nofollow ugc noopener"]]
        widths = page["textWidths"]
        assert len(widths) == 7 and min(widths) >= 0.8 * widths[0], \
            f"a 7-deep thread keeps most of its width: {widths}"
        await tab.screenshot(ARTIFACTS / "archive-topic-arabic-360.png")
        await tab.open(f"{base}/", 360)
        assert not (await facts(tab))["overflow"]
        # Name and date are isolated: "by ليلى حسن, 2026-…" does not scramble (the last
        # post is the seventh reply, by ليلى حسن).
        bdis = await tab.js("[...document.querySelectorAll('td.last bdi')].map(b => b.innerText)")
        assert bdis[0] == "ليلى حسن" and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", bdis[1])
        await tab.screenshot(ARTIFACTS / "archive-index-arabic-360.png")
    finally:
        await server.stop()


async def test_markdown_and_json_carry_the_same_facts(runtime, console):
    topic_id = await replay_seed(runtime, console)
    archive = await load_archive(runtime.store, topic_id, Platforms([]))
    markdown = to_markdown(archive)
    header = markdown.splitlines()[2]
    assert re.fullmatch(r"9 posts · Last post by Practitioner, Sri Lanka on \S+ \S+ UTC · "
                        r"Opened by Kristin Antin on \S+ \S+ UTC · Locked on \S+ \S+ UTC", header)
    intro = markdown.index("Consider these questions below")
    assert intro < markdown.index("Guiding questions:") < markdown.index("Share your thoughts")
    assert "\n- partnering volunteers with human rights organizations" in markdown
    assert markdown.count("*Question 1: ") >= 2 and "*Question 3: What was the impact?*" in markdown
    data = json.loads(to_json(archive))
    assert data["last_post"]["author"] == "Practitioner, Sri Lanka" and data["last_post"]["number"] == 9
    assert data["introduction_before_questions"].endswith("in this discussion topic:")
    assert data["introduction_after_questions"].startswith("Share your thoughts")
    assert data["language"] == "en" and data["opened_by"] == "Kristin Antin"


def topic(introduction: str) -> Topic:
    from datetime import UTC, datetime

    return Topic(1, "b", "T", introduction, TopicStatus.OPEN, "F", datetime.now(UTC))


def test_the_questions_marker_and_the_default_place():
    assert topic("One.\nStill one.\n\nTwo.\n\nThree.").introduction_parts == (
        "One.\nStill one.", "Two.\n\nThree.")
    assert topic("A\n\nB\n  {questions}  \nC").introduction_parts == ("A\n\nB", "C")
    assert topic("{questions}\nAfter").introduction_parts == ("", "After")
    assert topic("Only").introduction_parts == ("Only", "")
    assert topic("A\n{questions}\n\nC").chat_introduction == "A\n\nC"
    assert topic("say {questions} inline").chat_introduction == "say {questions} inline"


@pytest.mark.parametrize(("text", "url", "rest"), [
    ("(http://www.aaas.org/oncallscientists);", "http://www.aaas.org/oncallscientists", ");"),
    ("https://en.wikipedia.org/wiki/Ally_(politics).", "https://en.wikipedia.org/wiki/Ally_(politics)", "."),
    ("www.aaas.org/SRHRL)", "www.aaas.org/SRHRL", ")"),
])
def test_a_link_ends_where_the_address_does(text, url, rest):
    start = text.index(url[:4])
    assert richtext.split_url(text[start:]) == (url, rest)


class Tags(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


TEXT = st.lists(st.sampled_from([*"ab <>&\"'•-*()/.:;\n", "http://", "www.", "<script>",
                                 "javascript:", "https://x.y/", "ليلى"])).map("".join)


@given(TEXT)
def test_whatever_is_written_only_paragraphs_lists_and_safe_links_come_out(text):
    markup = str(richtext.to_html(text))
    parsed = Tags(markup)
    for tag, attrs in parsed.tags:
        assert tag in {"p", "br", "ul", "li", "a"}, markup
        if tag == "a":
            assert attrs["rel"] == "nofollow ugc noopener"
            assert re.match(r"https?://", attrs["href"] or ""), markup
        else:
            assert set(attrs) <= {"dir"}
    # Nothing written is lost: every non-space character is still there, in order
    # (bullet marks become list items).
    def kept(s: str) -> str:
        return re.sub(r"[\s•*-]", "", s)

    assert kept("".join(parsed.text)) == kept(text)
