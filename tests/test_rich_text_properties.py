"""Rich text over any text and any spans: rendering never raises and never loses an address.

Spans come from platforms, from stored rows and from edits, so the writers must take any
of them: overlapping, out of range, over emoji (two UTF-16 units on Telegram), inside
code. Whatever they get, every link's address is in what each platform shows, and
Telegram's pieces fit its limit in its own units.
"""

from __future__ import annotations

from html import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgebot.adapters.discord import markdown
from bridgebot.adapters.discord import render as discord_render
from bridgebot.adapters.telegram import render as telegram_render
from bridgebot.adapters.telegram.richtext import spans_from_entities, to_html
from bridgebot.core import richtext
from bridgebot.core.richtext import Kind, Span, from_json, plain_with_urls, to_json
from bridgebot.core.text import utf16_len

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)
URLS = st.from_regex(r"https://example\.org/[a-z0-9_()*~|`\-]{0,30}", fullmatch=True)


@st.composite
def rich(draw: st.DrawFn) -> tuple[str, list[Span]]:
    text = draw(TEXT.filter(lambda t: t.strip()))
    spans = []
    for _ in range(draw(st.integers(0, 8))):
        start = draw(st.integers(-3, len(text) + 3))
        end = draw(st.integers(start - 2, len(text) + 5))
        kind = draw(st.sampled_from(list(Kind)))
        url = draw(URLS) if kind is Kind.LINK else None
        language = draw(st.sampled_from([None, "py", "c++", "x y"]))
        spans.append(Span(kind, start, end, url=url, language=language))
    return text, spans


def addresses(text: str, spans: list[Span]) -> set[str]:
    """The addresses of the links that cover at least one character of the text."""
    size = len(text)
    return {s.url.strip() for s in spans
            if s.kind is Kind.LINK and s.url and max(0, s.start) < min(size, s.end)}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rich())
def test_telegram_html_never_fails_and_keeps_every_address(case):
    text, spans = case
    html = to_html(text, spans)
    for url in addresses(text, spans):
        assert f'href="{escape(url, quote=True)}"' in html


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rich())
def test_discord_markdown_never_fails_and_keeps_every_address(case):
    text, spans = case
    written = markdown.to_markdown(text, spans)
    for url in addresses(text, spans):
        assert url in written or url.replace(")", "%29") in written


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rich())
def test_the_archive_page_and_markdown_never_fail_and_keep_every_address(case):
    text, spans = case
    page = str(richtext.to_html(text, spans))
    markdown_export = richtext.to_markdown(text, spans)
    for url in addresses(text, spans):
        if text.strip() and any(s.kind is Kind.LINK and s.url == url and
                                text[max(0, s.start):min(len(text), s.end)].strip() for s in spans):
            assert escape(url, quote=True) in page
        assert url.replace(")", "%29") in markdown_export or url in markdown_export


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rich())
def test_plain_text_and_storage_keep_every_address(case):
    text, spans = case
    plain = plain_with_urls(text, spans)
    for url in addresses(text, spans):
        assert url in plain
    assert {s.url for s in from_json(to_json(spans)) if s.url} == {s.url for s in spans if s.url}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rich(), st.integers(1, 6))
def test_long_posts_split_into_pieces_that_fit_and_keep_every_address(case, times):
    text, spans = case
    long_text = (text + "\n") * times * 12
    step = len(text) + 1
    long_spans = [Span(s.kind, s.start + step * k, s.end + step * k, s.url, s.language)
                  for k in range(times * 12) for s in spans]
    pieces = discord_render.split_rich(long_text, long_spans, 2000 - 40)
    assert all(len(p) <= 2000 - 40 for p in pieces)
    joined = "\n".join(pieces)
    for url in addresses(long_text, long_spans):
        assert url in joined or url.replace(")", "%29") in joined
    header = "Name · Discord · #2"
    parts = telegram_render._pieces(f"<b>{header}</b>", header, long_text, spans=long_spans)
    assert all(utf16_len(plain) <= telegram_render.LIMIT for _, plain in parts)


@settings(max_examples=100, deadline=None)
@given(TEXT, st.lists(st.tuples(st.integers(0, 400), st.integers(0, 400)), max_size=5))
def test_telegram_entities_in_utf16_units_read_back_as_the_same_words(text, ranges):
    class Entity:  # what python-telegram-bot hands over: type, offset, length in UTF-16 units
        def __init__(self, offset: int, length: int) -> None:
            self.type, self.offset, self.length = "bold", offset, length
            self.url = self.user = self.language = None

    units = text.encode("utf-16-le")
    total = len(units) // 2
    entities = []
    for a, b in ranges:
        start, end = sorted((min(a, total), min(b, total)))
        # Telegram never cuts a character in two.
        if (start < total and 0xDC00 <= int.from_bytes(units[2 * start:2 * start + 2], "little") <= 0xDFFF) \
                or (end < total and 0xDC00 <= int.from_bytes(units[2 * end:2 * end + 2], "little") <= 0xDFFF):
            continue
        if end > start:
            entities.append(Entity(start, end - start))
    spans = spans_from_entities(text, entities)  # type: ignore[arg-type]
    words = {units[2 * e.offset:2 * (e.offset + e.length)].decode("utf-16-le") for e in entities}
    merged = "".join(text[s.start:s.end] for s in spans)
    for word in words:
        assert word in merged or not word.strip() or any(word in text[s.start:s.end] for s in spans)


@given(st.lists(st.sampled_from(["a", " ", "\n", "\n\n", "\r\n", "\u2028", "\x85", "\v", "•",
                                 "- ", "* ", "\t", "<&>'\"", "www.x.org", "WwW.y.org",
                                 "https://example.org/a_(b)", "w.", "."])).map("".join))
def test_a_one_line_post_renders_as_any_post_does(text):
    """The archive's short way for a post of one line (most posts) gives what paragraphs and
    lists built line by line give."""
    parts = []
    for kind, lines in richtext.blocks(text):
        if kind == "ul":
            items = "".join(f"<li>{richtext.links(item.strip())}</li>" for item in lines)
            parts.append(f'<ul dir="auto">{items}</ul>')
        else:
            parts.append('<p dir="auto">' + "<br>\n".join(map(richtext.links, lines)) + "</p>")
    assert richtext.html_text(text) == "\n".join(parts)


MARKUPISH = st.text(st.sampled_from(list("ab é👩🏽\u200b>-#\n\\`<[]()*_~|:@!&0123456789t")), max_size=60)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(TEXT, MARKUPISH))
def test_discord_text_without_markup_is_read_as_itself_as_the_reader_would(content: str) -> None:
    """markdown.parse skips its character-by-character reader for a text with none of the
    characters it acts on; whatever the text, the answer is the reader's."""
    assert markdown.parse(content) == markdown._Reader(content, markdown.no_names).run()


def test_a_piece_fits_telegram_also_as_plain_text_with_every_address_written_out():
    """Found by test_long_posts_split_into_pieces_that_fit_and_keep_every_address: 72 short
    lines, each word a link (two over the same letter); the text fits one message, its
    plain form (sent when Telegram cannot parse the HTML, addresses written out) did not."""
    line = "00\n"
    text = line * 72
    spans = [Span(Kind.LINK, 3 * k, 3 * k + 1, url=url) for k in range(72)
             for url in ("https://example.org/00000000", "https://example.org/")]
    header = "Name · Discord · #2"
    parts = telegram_render._pieces(f"<b>{header}</b>", header, text, spans=spans)
    assert len(parts) == 2
    assert all(utf16_len(plain) <= telegram_render.LIMIT for _, plain in parts)
    assert sum(plain.count("https://example.org/00000000") for _, plain in parts) == 72
