"""Telegram's formatting and the neutral rich text (core/richtext): entities in, HTML out.

Telegram gives formatting as entities whose ``offset`` and ``length`` count UTF-16 code
units (an emoji outside the Basic Multilingual Plane is two), while the core counts
code points, so offsets are converted both ways here. Outgoing text is HTML
(``parse_mode=HTML``): every character of the text is escaped and only the tags made
here are added, so nothing a person wrote elsewhere becomes markup.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from html import escape

from telegram import MessageEntity

from bridgebot.core.richtext.spans import Kind, Span, clean, render

_KINDS = {
    MessageEntity.BOLD: Kind.BOLD, MessageEntity.ITALIC: Kind.ITALIC,
    MessageEntity.UNDERLINE: Kind.UNDERLINE, MessageEntity.STRIKETHROUGH: Kind.STRIKE,
    MessageEntity.SPOILER: Kind.SPOILER, MessageEntity.CODE: Kind.CODE,
    MessageEntity.PRE: Kind.PRE, MessageEntity.TEXT_LINK: Kind.LINK,
    MessageEntity.BLOCKQUOTE: Kind.QUOTE, "expandable_blockquote": Kind.QUOTE,
    MessageEntity.TEXT_MENTION: Kind.MENTION,
}

_TAGS = {Kind.BOLD: "b", Kind.ITALIC: "i", Kind.UNDERLINE: "u", Kind.STRIKE: "s",
         Kind.SPOILER: "tg-spoiler", Kind.CODE: "code", Kind.QUOTE: "blockquote"}


def _utf16_starts(text: str) -> list[int]:
    """UTF-16 offset of each code point, and of the end: ``starts[i]`` for ``text[i]``."""
    starts = [0]
    for char in text:
        starts.append(starts[-1] + (2 if ord(char) > 0xFFFF else 1))
    return starts


def spans_from_entities(text: str, entities: Iterable[MessageEntity] | None) -> tuple[Span, ...]:
    """The formatting of a Telegram message or caption, over its text in code points.

    Plain ``url``, ``mention`` (@username), hashtags and the like need no span: they are the
    text itself. A ``text_mention`` (someone without a username) keeps who it names, so the
    name can follow the bridge's privacy rules.
    """
    if not entities:
        return ()
    starts = _utf16_starts(text)
    out = []
    for entity in entities:
        kind = _KINDS.get(str(entity.type))
        if kind is None:
            continue
        start = bisect_left(starts, entity.offset)
        end = bisect_left(starts, entity.offset + entity.length)
        user = f"telegram:{entity.user.id}" if entity.user is not None else None
        out.append(Span(kind, start, end, url=entity.url, language=entity.language or None,
                        user=user if kind is Kind.MENTION else None))
    return clean(text, out)


def _open(span: Span) -> str:
    if span.kind is Kind.LINK:
        return f'<a href="{escape(span.url or "", quote=True)}">'
    if span.kind is Kind.PRE:
        if span.language and span.language.replace("-", "").replace("+", "").isalnum():
            return f'<pre><code class="language-{escape(span.language)}">'
        return "<pre>"
    if span.kind is Kind.MENTION:
        return ""
    return f"<{_TAGS[span.kind]}>"


def _close(span: Span) -> str:
    if span.kind is Kind.LINK:
        return "</a>"
    if span.kind is Kind.PRE:
        valid = span.language and span.language.replace("-", "").replace("+", "").isalnum()
        return "</code></pre>" if valid else "</pre>"
    if span.kind is Kind.MENTION:
        return ""
    return f"</{_TAGS[span.kind]}>"


def _write(text: str, _active: Sequence[Span]) -> str:
    return escape(text, quote=False)


def to_html(text: str, spans: Sequence[Span] = ()) -> str:
    """``text`` as Telegram HTML with its formatting; the parsed text is ``text`` itself, so
    its length in Telegram's units is that of ``text``."""
    if not spans:
        return escape(text, quote=False)
    return render(text, spans, write=_write, open_=_open, close=_close)
