"""The neutral rich-text form: a post's plain text plus spans over it.

A post keeps its text as people read it (what counts for lengths, subjects, search and
erasure) and, beside it, the spans that format it: bold, italic, underline,
strikethrough, spoiler, inline code, code block, link (with its address), blockquote and
mention (the person's shown name is in the text; the span says who it is, so the name can
follow the bridge's privacy rules). Offsets are Python string indices (code points);
each adapter converts from and to its platform's units (Telegram counts UTF-16).

Spans may come from anywhere (a platform, a stored row, a generated test), so
:func:`clean` makes any list safe to render: clipped to the text, same-kind overlaps
merged, blockquotes widened to whole lines, and nothing that the platforms forbid inside
code. :func:`render` writes properly nested markup for any overlap. A link's address is
never dropped: where a span cannot be kept as a link, :func:`plain_with_urls` writes the
address after its text.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise


class Kind(enum.StrEnum):
    BOLD = "bold"
    ITALIC = "italic"
    UNDERLINE = "underline"
    STRIKE = "strike"
    SPOILER = "spoiler"
    CODE = "code"
    PRE = "pre"
    LINK = "link"
    QUOTE = "quote"
    MENTION = "mention"


# Outer to inner when spans start and end together: a block before inline styles, a link
# outside the styles of its words, code innermost (nothing may be inside it).
_ORDER = {kind: i for i, kind in enumerate((
    Kind.QUOTE, Kind.PRE, Kind.LINK, Kind.MENTION, Kind.BOLD, Kind.ITALIC, Kind.UNDERLINE,
    Kind.STRIKE, Kind.SPOILER, Kind.CODE))}
_CODE = (Kind.CODE, Kind.PRE)
_MERGEABLE = (Kind.BOLD, Kind.ITALIC, Kind.UNDERLINE, Kind.STRIKE, Kind.SPOILER, Kind.CODE,
              Kind.QUOTE)


@dataclass(frozen=True)
class Span:
    """``kind`` over ``text[start:end]``; ``url`` for a link, ``language`` for a code block,
    ``user`` ("platform:id") for a mention of someone the bridge may know."""

    kind: Kind
    start: int
    end: int
    url: str | None = None
    language: str | None = None
    user: str | None = None


_KINDS = tuple(Kind)  # iterating an Enum class costs several times a tuple's


def _key(span: Span) -> tuple[int, int, int]:
    return span.start, -span.end, _ORDER[span.kind]


def clean(text: str, spans: Iterable[Span]) -> tuple[Span, ...]:
    """``spans`` made safe to render over ``text``, in order (outer first)."""
    if not spans:  # most messages: no formatting (and iterating the kinds costs per post)
        return ()
    size = len(text)
    kept: list[Span] = []
    for span in spans:
        start, end = max(0, span.start), min(size, span.end)
        if start >= end:
            continue
        if span.kind is Kind.LINK and not (span.url and span.url.strip()):
            continue
        if span.kind is Kind.QUOTE:  # a blockquote is whole lines
            start = text.rfind("\n", 0, start) + 1
            if text[end - 1] == "\n":
                end -= 1
            else:
                newline = text.find("\n", end)
                end = size if newline < 0 else newline
            if start >= end:
                continue
        kept.append(replace(span, start=start, end=end))
    kept = _merge(kept)
    links = [s for s in kept if s.kind is Kind.LINK]
    # Code shows its characters as they are: a link inside it would lose its address, so
    # the code goes and the link stays; any other style must contain code whole or not
    # touch it (Telegram refuses entities inside code).
    codes = [s for s in kept if s.kind in _CODE and not any(_overlap(s, link) for link in links)]
    out = []
    for span in kept:
        if span.kind in _CODE:
            if span in codes:
                out.append(span)
            continue
        if any(_overlap(span, code) and not (span.start <= code.start and code.end <= span.end)
               for code in codes):
            continue
        out.append(span)
    return tuple(sorted(out, key=_key))


def _overlap(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def _merge(spans: list[Span]) -> list[Span]:
    """Same-kind styles that overlap or touch become one (``**a****b**`` is one bold)."""
    out: list[Span] = []
    for kind in _KINDS:
        same = sorted((s for s in spans if s.kind is kind), key=lambda s: (s.start, s.end))
        if kind not in _MERGEABLE:
            out += same
            continue
        for span in same:
            if out and out[-1].kind is kind and span.start <= out[-1].end:
                last = out[-1]
                out[-1] = replace(last, end=max(last.end, span.end))
            else:
                out.append(span)
    return out


def slice_spans(spans: Iterable[Span], start: int, end: int) -> tuple[Span, ...]:
    """The spans over ``text[start:end]``, with offsets in that piece (a link cut in two
    keeps its address on both sides)."""
    out = []
    for span in spans:
        a, b = max(span.start, start), min(span.end, end)
        if a < b:
            out.append(replace(span, start=a - start, end=b - start))
    return tuple(out)


def shift(spans: Iterable[Span], delta: int) -> tuple[Span, ...]:
    return tuple(replace(s, start=s.start + delta, end=s.end + delta) for s in spans)


def replace_text(text: str, spans: Sequence[Span], target: Span,
                 new: str) -> tuple[str, tuple[Span, ...]]:
    """``text`` with ``target``'s characters replaced by ``new`` (a mention shown under
    another name), every span after it moved and every span around it stretched."""
    delta = len(new) - (target.end - target.start)
    out = []
    for span in spans:
        start, end = span.start, span.end
        if start >= target.end and span is not target:
            start += delta
        if end >= target.end:
            end += delta
        out.append(replace(span, start=start, end=end))
    return text[:target.start] + new + text[target.end:], tuple(out)


def render(
    text: str, spans: Sequence[Span], *, write: Callable[[str, Sequence[Span]], str],
    open_: Callable[[Span], str], close: Callable[[Span], str],
) -> str:
    """``text`` with markup: ``write`` each run of text (given the spans around it),
    ``open_``/``close`` each span, properly nested however the spans overlap (a span that
    crosses another's end is closed and opened again)."""
    spans = clean(text, spans)
    cuts = sorted({0, len(text), *(s.start for s in spans), *(s.end for s in spans)})
    out: list[str] = []
    stack: list[Span] = []
    for a, b in pairwise(cuts):
        active = [s for s in spans if s.start <= a and b <= s.end]  # already outer-first
        keep = 0
        while keep < len(stack) and keep < len(active) and stack[keep] is active[keep]:
            keep += 1
        out += [close(s) for s in reversed(stack[keep:])]
        out += [open_(s) for s in active[keep:]]
        stack = active
        out.append(write(text[a:b], active))
    out += [close(s) for s in reversed(stack)]
    return "".join(out)


def plain_with_urls(text: str, spans: Sequence[Span]) -> str:
    """The text where markup cannot go: each link's address follows its words in
    brackets ("these instructions (https://...)") unless the words are the address."""
    links = [s for s in clean(text, spans) if s.kind is Kind.LINK]
    if not links:
        return text
    out = []
    position = 0
    for link in sorted(links, key=lambda s: s.end):
        assert link.url is not None
        out.append(text[position:link.end])
        position = link.end
        if link.url.strip() not in text[link.start:link.end]:
            out.append(f" ({link.url.strip()})")
    out.append(text[position:])
    return "".join(out)


def to_json(spans: Sequence[Span]) -> str | None:
    """How spans are stored with a post (None when the text has none)."""
    if not spans:
        return None
    rows = []
    for span in spans:
        row: dict[str, object] = {"k": span.kind.value, "s": span.start, "e": span.end}
        for field in ("url", "language", "user"):
            if getattr(span, field):
                row[field] = getattr(span, field)
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def from_json(stored: str | None) -> tuple[Span, ...]:
    """Spans read back; a row this version does not know is passed over, never fatal."""
    if not stored:
        return ()
    try:
        rows = json.loads(stored)
    except ValueError:
        return ()
    out = []
    for row in rows if isinstance(rows, list) else ():
        try:
            out.append(Span(Kind(row["k"]), int(row["s"]), int(row["e"]), url=row.get("url"),
                            language=row.get("language"), user=row.get("user")))
        except (KeyError, ValueError, TypeError):
            continue
    return tuple(out)
