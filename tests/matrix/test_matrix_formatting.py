"""Formatting between Matrix's ``formatted_body`` and the other platforms: read into the
core's spans, written from them, sanitized, and never a ping."""

from __future__ import annotations

from bridgebot.adapters.matrix import richtext
from bridgebot.core.richtext.spans import Kind

from .conftest import MatrixWorld
from .test_matrix_discussion import _ghost_events, open_topic


def test_a_formatted_body_is_read_into_spans_without_its_reply_fallback_or_scripts() -> None:
    text, spans = richtext.parse(
        '<mx-reply><blockquote>old words</blockquote></mx-reply>'
        '<p>We met <strong>the ministry</strong>, see <a href="https://example.org/r?a=1&amp;b=2">'
        'the report</a>; thanks <a href="https://matrix.to/#/@amal:example.org">Amal</a> '
        '<span data-mx-spoiler>soon</span> <em>x</em><u>y</u><del>z</del> <code>a&lt;b</code></p>'
        '<script>alert(1)</script><a href="javascript:alert(1)">click</a>'
        '<pre><code class="language-python">x = 1\n</code></pre>')
    assert text.startswith("We met the ministry, see the report; thanks @Amal soon xyz a<b")
    assert "old words" not in text and "alert" not in text and "click" in text
    kinds = {(s.kind, text[s.start:s.end]) for s in spans}
    assert {(Kind.BOLD, "the ministry"), (Kind.LINK, "the report"), (Kind.MENTION, "@Amal"),
            (Kind.SPOILER, "soon"), (Kind.ITALIC, "x"), (Kind.UNDERLINE, "y"),
            (Kind.STRIKE, "z"), (Kind.CODE, "a<b")} <= kinds
    link = next(s for s in spans if s.kind is Kind.LINK)
    assert link.url == "https://example.org/r?a=1&b=2"
    assert next(s for s in spans if s.kind is Kind.MENTION).user == "matrix:@amal:example.org"
    assert not any(s.kind is Kind.LINK and "javascript" in (s.url or "") for s in spans)
    pre = next(s for s in spans if s.kind is Kind.PRE)
    assert pre.language == "python" and text[pre.start:pre.end].startswith("x = 1")


def test_spans_are_written_as_html_with_every_character_escaped_and_no_pill() -> None:
    text, spans = richtext.parse('<b>&lt;b&gt;bold</b> <a href="https://matrix.to/#/@a:b">Amal</a>'
                                 ' <a href="https://x.org/?q=&quot;">l</a>')
    html = richtext.to_html(text, spans)
    assert html.startswith("<strong>&lt;b&gt;bold</strong> @Amal ")
    assert "matrix.to" not in html
    assert '<a href="https://x.org/?q=&quot;">l</a>' in html
    again, kept = richtext.parse(html)
    assert again == text  # read back: the same text, every style but the pill
    assert kept == tuple(s for s in spans if s.kind is not Kind.MENTION)


async def test_formatting_and_links_cross_between_discord_matrix_and_telegram(
        matrix_world: MatrixWorld) -> None:
    w = matrix_world
    root = await open_topic(w)
    thread = (await w.until(lambda: w.dc.threads(w.channel["id"])))[0]
    # Discord -> Matrix: markdown arrives as formatted_body, the link with its address.
    w.dc.user_sends(thread["id"], w.jessica,
                    "We met **the ministry** first, see [the report](https://example.org/report) @here")
    [event] = await w.matrix_events(_ghost_events(w, "We met the ministry"))
    content = event["content"]
    assert content["format"] == "org.matrix.custom.html"
    assert "<strong>the ministry</strong>" in content["formatted_body"]
    assert '<a href="https://example.org/report">the report</a>' in content["formatted_body"]
    assert "the report (https://example.org/report)" in content["body"]  # the plain fallback
    assert content["m.mentions"] == {}
    # Matrix -> Telegram: a formatted message keeps its link and its bold.
    await w.member.say(
        w.room, "Our notes: https://example.org/notes", thread=root["event_id"],
        format="org.matrix.custom.html",
        formatted_body='<strong>Our</strong> <a href="https://example.org/notes">notes</a> '
                       '<a href="https://matrix.to/#/@amal:x">Amal</a>')
    [sent] = await w.until(lambda: [m for m in w.telegram_bot_messages()
                                    if "Our notes" in m.get("text", "")])
    entities = sent.get("entities") or []
    links = [e for e in entities if e["type"] == "text_link"]
    assert [e["url"] for e in links] == ["https://example.org/notes"]
    assert any(e["type"] == "bold" for e in entities)
    assert "matrix.to" not in str(sent) and "@amal:x" not in str(sent)
