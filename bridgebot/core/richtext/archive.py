"""Plain post text as safe HTML: paragraphs, "•" lines as lists, clickable links.

People write plain text in chats; the forum showed their bullet lines as lists and their
addresses as links. Every piece of the text is escaped first, and only the tags made here
are added, so nothing a person writes can become markup. Links carry
``rel="nofollow ugc noopener"``: the archive does not vouch for what participants link.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import groupby

from markupsafe import Markup, escape

from bridgebot.core.richtext.spans import Kind, Span, clean, render, slice_spans

# http(s) addresses and bare www. ones; what may end an address is trimmed below.
_URL = re.compile(r"(?:https?://|www\.(?=[\w-]+\.\w))[^\s<>\"'\u00a0]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"»”’"
_BULLET = re.compile(r"^\s*(?:[•▪‣◦]|[*-](?=\s))\s*")
REL = "nofollow ugc noopener"


def split_url(candidate: str) -> tuple[str, str]:
    """The address and what follows it: "(http://x.org/a);" gives "http://x.org/a" and ");".

    A closing bracket stays only when the address opened one (Wikipedia-style links).
    """
    url = candidate
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last == ")" and url.count("(") < url.count(")"):
            url = url[:-1]
        elif last == "]" and url.count("[") < url.count("]"):
            url = url[:-1]
        else:
            break
    return url, candidate[len(url):]


def escape_text(text: str) -> str:
    """``text`` escaped exactly as markupsafe's ``escape`` does (&, <, >, ' and "), as a
    plain string: the page is built from strings and wrapped in Markup once, because a
    Markup object per piece made rendering a 10,000-post page take seconds."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&#39;").replace('"', "&#34;"))


def _links(text: str) -> str:
    """:func:`links` as a plain string of safe HTML."""
    # Most lines hold no address: every match has "://" or a "www." (the regex is slow to
    # say no, trying each position).
    if "://" not in text and (("w." not in text and "W." not in text)
                              or "www." not in text.lower()):
        return escape_text(text)
    out: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url, rest = split_url(match.group(0))
        if len(url) <= len("www.") or url.lower() in ("http://", "https://"):
            continue
        href = url if url.lower().startswith(("http://", "https://")) else f"https://{url}"
        out.append(escape_text(text[position:match.start()]))
        out.append(f'<a href="{escape_text(href)}" rel="{REL}">{escape_text(url)}</a>')
        out.append(escape_text(rest))
        position = match.end()
    out.append(escape_text(text[position:]))
    return "".join(out)


def links(text: str) -> Markup:
    """``text`` escaped, with each web address turned into a link."""
    return Markup(_links(text))


def _bullet(line: str) -> str | None:
    """The item's text when ``line`` is a list item ("• text", "- text", "* text")."""
    match = _BULLET.match(line)
    if match is None or not line[match.end():].strip():
        return None
    return line[match.end():]


_PARAGRAPHS = re.compile(r"\n\s*\n")


def blocks(text: str) -> list[tuple[str, list[str]]]:
    """The text as ("p", lines) paragraphs and ("ul", items) lists, in order."""
    found: list[tuple[str, list[str]]] = []
    for paragraph in _PARAGRAPHS.split(text.strip()):
        kinds: list[tuple[str, list[str]]] = []
        for line in paragraph.splitlines():
            item = _bullet(line)
            kind, content = ("ul", item) if item is not None else ("p", line)
            if kinds and kinds[-1][0] == kind:
                kinds[-1][1].append(content)
            else:
                kinds.append((kind, [content]))
        found += kinds
    return found


def to_html(text: str, spans: Sequence[Span] = ()) -> Markup:
    """Paragraphs (single line breaks kept) and lists; each with ``dir="auto"``. ``spans``
    (core/richtext) add the formatting, links and mentions the text was written with."""
    if spans:
        return _rich_html(text, spans)
    return Markup(html_text(text))


def html_text(text: str, spans: Sequence[Span] = ()) -> str:
    """:func:`to_html` as a plain string of safe HTML, for pages built from strings (a
    ``Markup`` per post cost a 10,000-post page tens of milliseconds)."""
    if spans:
        return str(_rich_html(text, spans))
    # Built as plain strings (every piece of text through escape_text) and marked safe by
    # the caller. Most posts are one line: one paragraph (or one list item), no splitting.
    lines = text.strip().splitlines()
    if len(lines) == 1:
        item = _bullet(lines[0])
        if item is not None:
            return f'<ul dir="auto"><li>{_links(item.strip())}</li></ul>'
        return f'<p dir="auto">{_links(lines[0])}</p>'
    parts: list[str] = []
    for kind, lines in blocks(text):
        if kind == "ul":
            items = "".join(f"<li>{_links(item.strip())}</li>" for item in lines)
            parts.append(f'<ul dir="auto">{items}</ul>')
        else:
            parts.append('<p dir="auto">' + "<br>\n".join(_links(line) for line in lines) + "</p>")
    return "\n".join(parts)


def to_markdown(text: str, spans: Sequence[Span] = ()) -> str:
    """"•" lines as markdown list items; the rest as written, with its formatting and links
    (a code block of whole lines fenced with its language, a quote's lines after "> ")."""
    if spans:
        spans = clean(text, spans)
        fenced = {(s.start, s.end) for s in spans if s.kind is Kind.PRE
                  and _whole_lines(text, s)}

        def open_(span: Span) -> str:
            if span.kind is Kind.PRE and (span.start, span.end) in fenced:
                return f"```{_fence_language(span)}\n"
            return "> " if span.kind is Kind.QUOTE else _md_open(span)

        def close(span: Span) -> str:
            if span.kind is Kind.PRE and (span.start, span.end) in fenced:
                return "\n```"
            return _md_close(span)

        def write(piece: str, active: Sequence[Span]) -> str:
            if any(s.kind is Kind.QUOTE for s in active):
                return piece.replace("\n", "\n> ")
            return piece

        text = render(text, spans, write=write, open_=open_, close=close)
    lines = []
    for line in text.splitlines():
        item = _bullet(line)
        lines.append(line if item is None else f"- {item.strip()}")
    return "\n".join(lines)


# -- formatted text -----------------------------------------------------------------

_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_HTML_TAGS = {Kind.BOLD: "strong", Kind.ITALIC: "em", Kind.UNDERLINE: "u", Kind.STRIKE: "s",
              Kind.CODE: "code", Kind.PRE: "code"}
_HTML_CLASSES = {Kind.SPOILER: "spoiler", Kind.QUOTE: "quote", Kind.MENTION: "mention"}
_MD_MARKS = {Kind.BOLD: "**", Kind.ITALIC: "*", Kind.STRIKE: "~~", Kind.CODE: "`", Kind.PRE: "`"}


def _safe_url(span: Span) -> bool:
    return (span.url or "").strip().lower().startswith(_SAFE_SCHEMES)


def _html_open(span: Span) -> str:
    if span.kind is Kind.LINK:
        if not _safe_url(span):
            return ""
        return str(Markup('<a href="{}" rel="{}">').format((span.url or "").strip(), REL))
    if span.kind in _HTML_TAGS:
        return f"<{_HTML_TAGS[span.kind]}>"
    return f'<span class="{_HTML_CLASSES[span.kind]}">'


def _html_close(span: Span) -> str:
    if span.kind is Kind.LINK:  # an address the page will not link is written out
        return "</a>" if _safe_url(span) else str(escape(f" ({(span.url or '').strip()})"))
    if span.kind in _HTML_TAGS:
        return f"</{_HTML_TAGS[span.kind]}>"
    return "</span>"


def _html_write(piece: str, active: Sequence[Span]) -> str:
    if any(s.kind in (Kind.LINK, Kind.CODE, Kind.PRE) for s in active):
        return str(escape(piece))  # already a link, or code: shown as written
    return str(links(piece))


def _inline(text: str, spans: Sequence[Span]) -> Markup:
    if not spans:
        return links(text)
    # Every piece of text is escaped by _html_write; only the tags made here are added.
    return Markup(render(text, spans, write=_html_write, open_=_html_open, close=_html_close))


def _rich_html(text: str, spans: Sequence[Span]) -> Markup:
    """Paragraphs and lists as :func:`html_text` makes them; lines inside a code block of
    whole lines are one ``<pre>`` (indentation kept), a quote's lines one ``<blockquote>``."""
    spans = clean(text, spans)
    blocks = [s for s in spans if s.kind is Kind.QUOTE
              or (s.kind is Kind.PRE and _whole_lines(text, s))]

    def block_of(line: tuple[int, str]) -> Span | None:
        at, content = line
        return next((s for s in blocks if s.start <= at and at + len(content) <= s.end), None)

    parts: list[Markup] = []
    for kind, lines in _blocks_at(text):
        if kind == "ul":
            inline = [_inline(line, slice_spans(spans, at, at + len(line))) for at, line in lines]
            items = Markup("").join(Markup("<li>{}</li>").format(item) for item in inline)
            parts.append(Markup('<ul dir="auto">{}</ul>').format(items))
            continue
        for block, run in groupby(lines, key=block_of):
            group = list(run)
            if block is not None and block.kind is Kind.PRE:
                language = _fence_language(block)
                code = Markup('<code class="language-{}">').format(language) if language \
                    else Markup("<code>")
                body = "\n".join(line for _, line in group)
                parts.append(Markup('<pre dir="ltr">{}{}</code></pre>').format(code, body))
                continue
            inline = [_inline(line, [s for s in slice_spans(spans, at, at + len(line))
                                     if s.kind is not Kind.QUOTE]) for at, line in group]
            paragraph = Markup('<p dir="auto">{}</p>').format(Markup("<br>\n").join(inline))
            if block is not None:
                paragraph = Markup('<blockquote dir="auto">{}</blockquote>').format(paragraph)
            parts.append(paragraph)
    return Markup("\n").join(parts)


def _whole_lines(text: str, span: Span) -> bool:
    """Whether ``span`` starts at a line's start and ends at a line's end (a code block
    written as one, not code inside a sentence)."""
    return (span.start == 0 or text[span.start - 1] == "\n") and \
        (span.end == len(text) or text[span.end] == "\n")


def _fence_language(span: Span) -> str:
    """A code block's language as a fence or class may carry it (letters, digits, ``+#-_.``)."""
    language = span.language or ""
    return language if re.fullmatch(r"[\w+#.-]{1,32}", language) else ""


def _blocks_at(text: str) -> list[tuple[str, list[tuple[int, str]]]]:
    """:func:`blocks` with each line's offset in ``text``, for the spans over it."""
    found: list[tuple[str, list[tuple[int, str]]]] = []
    kinds: list[tuple[str, list[tuple[int, str]]]] = []
    position = 0
    for raw in text.splitlines(keepends=True):
        line, at = raw.rstrip("\r\n"), position
        position += len(raw)
        if not line.strip():
            found += kinds
            kinds = []
            continue
        match = _BULLET.match(line)
        start, kind = 0, "p"
        if match is not None and line[match.end():].strip():
            start, kind = match.end(), "ul"
        content = line[start:]
        if kind == "ul":
            start += len(content) - len(content.lstrip())
            content = content.strip()
        if kinds and kinds[-1][0] == kind:
            kinds[-1][1].append((at + start, content))
        else:
            kinds.append((kind, [(at + start, content)]))
    return found + kinds


def _md_open(span: Span) -> str:
    if span.kind is Kind.LINK:
        return "[" if _safe_url(span) else ""
    return _MD_MARKS.get(span.kind, "")


def _md_close(span: Span) -> str:
    if span.kind is Kind.LINK:
        url = (span.url or "").strip()
        return f"]({url.replace(')', '%29').replace(' ', '%20')})" if _safe_url(span) else f" ({url})"
    return _MD_MARKS.get(span.kind, "")
