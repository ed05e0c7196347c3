"""Matrix's ``formatted_body`` (``org.matrix.custom.html``) from and to the core's spans.

Reading uses the standard library's HTML parser (a tokenizer that follows the HTML spec,
kept with Python), never regexes: only the elements Matrix's spec lists for messages
become spans (bold, italic, underline, strike, ``data-mx-spoiler``, code, pre, links,
blockquote, paragraphs and line breaks); everything else keeps its text and loses its
markup; ``<mx-reply>`` (the quoted parent a reply carries) and ``script``/``style`` are
dropped whole. A pill (``<a href="https://matrix.to/#/@user:server">Name</a>``) becomes a
mention of that person under the name it shows, so the bridge's naming rule decides what
the other platforms read; the user id stays in the span, never in the text.

Writing escapes every character of the text and builds the markup from the spans only,
so nothing typed anywhere becomes markup, a pill or a ping: a mention is written as its
shown name in plain text (no ``matrix.to`` link, no ``m.mentions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from html.parser import HTMLParser
from urllib.parse import unquote

from bridgebot.core.richtext.spans import Kind, Span, clean, render

PLATFORM = "matrix"
_SIMPLE = {"b": Kind.BOLD, "strong": Kind.BOLD, "i": Kind.ITALIC, "em": Kind.ITALIC,
           "u": Kind.UNDERLINE, "s": Kind.STRIKE, "del": Kind.STRIKE, "strike": Kind.STRIKE,
           "code": Kind.CODE, "blockquote": Kind.QUOTE}
_BLOCKS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre",
                     "blockquote", "table", "tr", "hr", "details", "summary"})
_DROPPED = frozenset({"mx-reply", "script", "style", "head", "title"})
_VOID = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "area", "col", "embed",
                   "source", "track", "param", "base"})
_SCHEMES = ("https://", "http://", "mailto:", "ftp://", "magnet:")
PILL = "https://matrix.to/#/"


def mentioned_user(href: str) -> str | None:
    """The user id a pill's address names (``https://matrix.to/#/@a:b`` → ``@a:b``)."""
    if not href.startswith(PILL):
        return None
    target = unquote(href[len(PILL):]).split("?", 1)[0]
    return target if target.startswith("@") and ":" in target else None


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.size = 0
        self.spans: list[Span] = []
        # Open elements: (tag, kind or None, start, url, language, user).
        self.stack: list[tuple[str, Kind | None, int, str | None, str | None, str | None]] = []
        self.dropping = 0
        self.in_pre = 0
        self.mention_open = False

    def _emit(self, text: str) -> None:
        if text:
            self.out.append(text)
            self.size += len(text)

    def _last(self) -> str:
        return self.out[-1][-1:] if self.out else ""

    def _block_break(self) -> None:
        """A block starts or ends on its own line (no blank line at the very start)."""
        if self.size and self._last() != "\n":
            self._emit("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            if tag not in _VOID:
                self.dropping += 1
            return
        if self.dropping:
            return
        if tag == "br":
            self._emit("\n")
            return
        if tag in _BLOCKS:
            self._block_break()
        if tag in _VOID:
            return
        attr = {k: v or "" for k, v in attrs}
        kind: Kind | None = _SIMPLE.get(tag)
        url = language = user = None
        if tag == "pre":
            kind = Kind.PRE
            self.in_pre += 1
        elif tag == "code" and self.in_pre:
            kind = None  # the pre around it is the block; its class names the language
            lang = next((c[len("language-"):] for c in attr.get("class", "").split()
                         if c.startswith("language-")), None)
            if lang and self.stack and self.stack[-1][0] == "pre":
                t, k, s, u, _, us = self.stack[-1]
                self.stack[-1] = (t, k, s, u, lang[:32], us)
        elif tag == "span" and "data-mx-spoiler" in attr:
            kind = Kind.SPOILER
        elif tag == "a":
            href = attr.get("href", "").strip()
            user = mentioned_user(href)
            if user is not None:
                kind = Kind.MENTION
                self._emit("@")
                self.mention_open = True
            elif href.lower().startswith(_SCHEMES):
                kind, url = Kind.LINK, href
        self.stack.append((tag, kind, self.size - (1 if kind is Kind.MENTION else 0), url,
                           language, f"{PLATFORM}:{user}" if user else None))

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            if tag not in _VOID:
                self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag in _VOID:
            return
        # Close up to the matching open element (unclosed inner ones close with it).
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                break
        else:
            return
        while len(self.stack) > depth:
            t, kind, start, url, language, user = self.stack.pop()
            if t == "pre":
                self.in_pre = max(0, self.in_pre - 1)
            if kind is Kind.MENTION:
                self.mention_open = False
                if self.size - start <= 1:  # a pill with no name: "@" alone says nothing
                    self._emit("someone")
            if kind is not None and self.size > start:
                self.spans.append(Span(kind, start, self.size, url=url, language=language,
                                       user=user))
        if tag in _BLOCKS:
            self._block_break()

    def handle_data(self, data: str) -> None:
        if self.dropping:
            return
        if not self.in_pre:
            data = data.replace("\r", "").replace("\n", " ")  # HTML whitespace; <br> breaks
            if self.mention_open and data.startswith("@") and self._last() == "@":
                data = data[1:]  # a pill already written "@Name"
        self._emit(data)


def parse(html: str) -> tuple[str, tuple[Span, ...]]:
    """The plain text a ``formatted_body`` shows, and its spans."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    raw = "".join(reader.out)
    text = raw.strip("\n ")
    lead = len(raw) - len(raw.lstrip("\n "))
    spans = [Span(s.kind, s.start - lead, s.end - lead, url=s.url, language=s.language,
                  user=s.user) for s in reader.spans]
    return text, clean(text, spans)


def _open(span: Span) -> str:
    if span.kind is Kind.LINK:
        return f'<a href="{escape(span.url or "", quote=True)}">'
    if span.kind is Kind.PRE:
        lang = f' class="language-{escape(span.language, quote=True)}"' if span.language else ""
        return f"<pre><code{lang}>"
    return {Kind.BOLD: "<strong>", Kind.ITALIC: "<em>", Kind.UNDERLINE: "<u>", Kind.STRIKE: "<del>",
            Kind.SPOILER: "<span data-mx-spoiler>", Kind.CODE: "<code>",
            Kind.QUOTE: "<blockquote>", Kind.MENTION: ""}[span.kind]


def _close(span: Span) -> str:
    return {Kind.LINK: "</a>", Kind.PRE: "</code></pre>", Kind.BOLD: "</strong>",
            Kind.ITALIC: "</em>", Kind.UNDERLINE: "</u>", Kind.STRIKE: "</del>",
            Kind.SPOILER: "</span>", Kind.CODE: "</code>", Kind.QUOTE: "</blockquote>",
            Kind.MENTION: ""}[span.kind]


def _write(text: str, spans: Sequence[Span]) -> str:
    escaped = escape(text, quote=False)
    if any(s.kind is Kind.PRE for s in spans):
        return escaped
    return escaped.replace("\n", "<br>")


def to_html(text: str, spans: Sequence[Span]) -> str:
    """``text`` as ``formatted_body``: every character escaped, markup from ``spans`` only
    (a mention as its shown name, never a pill)."""
    return render(text, spans, write=_write, open_=_open, close=_close)
