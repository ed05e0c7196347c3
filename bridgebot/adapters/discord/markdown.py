"""Discord's markdown and the neutral rich text (core/richtext), both ways.

Discord's markdown is its own dialect (``__underline__``, ``||spoiler||``, ``-# small``,
``<@id>`` mentions, ``[text](url)`` masked links, ``>>>`` quotes to the end), so it is
read here rather than by a CommonMark parser. Reading turns every mention into the
person's, channel's or role's shown name (never an id: ``names`` resolves them, from the
message's own mention lists). Writing escapes every character of the text and adds only
the markup made here; sends use ``allowed_mentions=none``, so nothing can ping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from discord.utils import escape_markdown

from bridgebot.core.richtext.spans import Kind, Span, clean, render

# Longest first: "***" is bold and italic, "**" bold, "*" italic.
_MARKERS = (("**", Kind.BOLD), ("__", Kind.UNDERLINE), ("~~", Kind.STRIKE), ("||", Kind.SPOILER),
            ("*", Kind.ITALIC), ("_", Kind.ITALIC))
_MENTION = re.compile(r"<(@!?|@&|#)(\d{1,20})>")
_EMOJI = re.compile(r"<a?:(\w{1,32}):\d{1,20}>")
_TIMESTAMP = re.compile(r"<t:(-?\d{1,13})(?::[tTdDfFR])?>")
_ANGLE_URL = re.compile(r"<((?:https?|mailto):[^\s<>]+)>")
_LINK = re.compile(
    r"\[([^\[\]\n]{1,1000})\]\(\s*<?((?:https?|mailto):[^\s<>()]*(?:\([^\s<>()]*\)[^\s<>()]*)*)>?\s*\)"
)
_HEADING = re.compile(r"(#{1,3}) (?=\S)")
_ESCAPABLE = set("\\*_~|`>#-[]()<:@")
# No character the reader acts on (line starts ">", "-#", "#"; escapes, code, mentions and
# <url>, links, emphasis markers, new lines): such a text reads as itself, with no spans.
_PLAIN = re.compile(r"[^>\-#\n\\`<\[*_~|]*")

Resolver = Callable[[str, str], tuple[str, str | None]]


def no_names(kind: str, ident: str) -> tuple[str, str | None]:
    """What a mention shows when nothing is known of it: a neutral word, never the id."""
    return {"@": "@someone", "@!": "@someone", "@&": "@role", "#": "#channel"}[kind], None


@dataclass
class _Reader:
    src: str
    names: Resolver
    out: list[str] = field(default_factory=list)
    size: int = 0
    spans: list[Span] = field(default_factory=list)
    open: list[tuple[str, Kind, int]] = field(default_factory=list)

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.size += len(text)

    def run(self) -> tuple[str, tuple[Span, ...]]:
        src = self.src
        i = 0
        line_start = True
        quote_all_from: int | None = None
        line_quote: int | None = None
        heading: int | None = None
        while i < len(src):
            if line_start:
                line_start = False
                if quote_all_from is None and src.startswith(">>> ", i):
                    quote_all_from = self.size
                    i += 4
                    continue
                if quote_all_from is None and src.startswith("> ", i):
                    line_quote = self.size
                    i += 2
                    continue
                if src.startswith("-# ", i):
                    i += 3
                    continue
                heading_match = _HEADING.match(src, i)
                if heading_match:
                    heading = self.size
                    i = heading_match.end()
                    continue
            char = src[i]
            if char == "\n":
                for start, kind in ((line_quote, Kind.QUOTE), (heading, Kind.BOLD)):
                    if start is not None and self.size > start:
                        self.spans.append(Span(kind, start, self.size))
                line_quote = heading = None
                self.emit("\n")
                i += 1
                line_start = True
                continue
            if char == "\\" and i + 1 < len(src) and src[i + 1] in _ESCAPABLE:
                self.emit(src[i + 1])
                i += 2
                continue
            if src.startswith("```", i):
                close = src.find("```", i + 3)
                if close > i + 3:
                    self.code_block(src[i + 3:close])
                    i = close + 3
                    continue
            if char == "`":
                ticks = 2 if src.startswith("``", i) else 1
                close = src.find("`" * ticks, i + ticks)
                if close > i + ticks:
                    body = src[i + ticks:close]
                    if ticks == 2 and body.startswith(" ") and body.endswith(" ") and len(body) > 2:
                        body = body[1:-1]
                    start = self.size
                    self.emit(body)
                    self.spans.append(Span(Kind.CODE, start, self.size))
                    i = close + ticks
                    continue
            if char == "<":
                step = self.angle(i)
                if step:
                    i += step
                    continue
            if char == "[":
                match = _LINK.match(src, i)
                if match:
                    inner_text, inner_spans = _Reader(match.group(1), self.names).run()
                    start = self.size
                    self.emit(inner_text)
                    self.spans += [Span(s.kind, s.start + start, s.end + start, s.url, s.language,
                                        s.user) for s in inner_spans]
                    self.spans.append(Span(Kind.LINK, start, self.size, url=match.group(2)))
                    i = match.end()
                    continue
            step = self.marker(i)
            if step:
                i += step
                continue
            self.emit(char)
            i += 1
        for start, kind in ((line_quote, Kind.QUOTE), (heading, Kind.BOLD),
                            (quote_all_from, Kind.QUOTE)):
            if start is not None and self.size > start:
                self.spans.append(Span(kind, start, self.size))
        text = "".join(self.out)
        return text, clean(text, self.spans)

    def code_block(self, body: str) -> None:
        language = None
        first, newline, rest = body.partition("\n")
        if newline and first and re.fullmatch(r"[\w+#.-]{1,30}", first):
            language, body = first, rest
        body = body.strip("\n")
        if self.size and not "".join(self.out).endswith("\n"):
            self.emit("\n")
        start = self.size
        self.emit(body)
        if self.size > start:
            self.spans.append(Span(Kind.PRE, start, self.size, language=language))

    def angle(self, i: int) -> int:
        """A mention, custom emoji, timestamp or ``<url>`` at ``i``: what it shows; the
        characters it took (0: none of these)."""
        src = self.src
        match = _MENTION.match(src, i)
        if match:
            shown, user = self.names(match.group(1), match.group(2))
            start = self.size
            self.emit(shown)
            if match.group(1) in ("@", "@!"):
                self.spans.append(Span(Kind.MENTION, start, self.size, user=user))
            return match.end() - i
        match = _EMOJI.match(src, i)
        if match:
            self.emit(f":{match.group(1)}:")
            return match.end() - i
        match = _TIMESTAMP.match(src, i)
        if match:
            try:
                when = datetime.fromtimestamp(int(match.group(1)), UTC)
                self.emit(when.strftime("%Y-%m-%d %H:%M UTC"))
            except (ValueError, OverflowError, OSError):
                self.emit(match.group(0))
            return match.end() - i
        match = _ANGLE_URL.match(src, i)
        if match:
            self.emit(match.group(1))
            return match.end() - i
        return 0

    def marker(self, i: int) -> int:
        src = self.src
        for token, kind in _MARKERS:
            if not src.startswith(token, i):
                continue
            for index in range(len(self.open) - 1, -1, -1):
                if self.open[index][0] == token:
                    _, _, start = self.open.pop(index)
                    if self.size > start:
                        self.spans.append(Span(kind, start, self.size))
                    return len(token)
            after = src[i + len(token):i + len(token) + 1]
            if not after or after.isspace():
                continue  # "2 * 3", "a ** b": a closing marker needs text after the opening
            if token == "_" and i > 0 and src[i - 1].isalnum():
                continue  # snake_case is no italic
            closing = src.find(token, i + len(token) + 1)
            if closing < 0 or (token == "_" and closing + 1 < len(src) and src[closing + 1].isalnum()):
                continue
            self.open.append((token, kind, self.size))
            return len(token)
        return 0


def parse(content: str, names: Resolver = no_names) -> tuple[str, tuple[Span, ...]]:
    """A Discord message's content as (plain text, spans); ``names(kind, id)`` gives what a
    mention shows ("@Brittany", "#general") and, for a person, who it is ("discord:id")."""
    if _PLAIN.fullmatch(content):  # most messages: read character by character, unchanged
        return content, ()
    return _Reader(content, names).run()


def _code_text(text: str) -> str:
    return text.replace("`", "ˋ")  # a backtick would end the code early


def _open(span: Span) -> str:
    return {
        Kind.BOLD: "**", Kind.ITALIC: "*", Kind.UNDERLINE: "__", Kind.STRIKE: "~~",
        Kind.SPOILER: "||", Kind.CODE: "`", Kind.LINK: "[", Kind.QUOTE: "> ", Kind.MENTION: "",
        Kind.PRE: f"```{span.language or ''}\n",
    }[span.kind]


def _link_target(url: str) -> str:
    """The address as Discord reads it inside ``(<...>)``: no space or angle bracket."""
    return (url.strip().replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")
            .replace(")", "%29"))


def _close(span: Span) -> str:
    if span.kind is Kind.LINK:
        return f"](<{_link_target(span.url or '')}>)"
    return {
        Kind.BOLD: "**", Kind.ITALIC: "*", Kind.UNDERLINE: "__", Kind.STRIKE: "~~",
        Kind.SPOILER: "||", Kind.CODE: "`", Kind.QUOTE: "", Kind.MENTION: "",
        Kind.PRE: "\n```",
    }[span.kind]


def _write(text: str, active: Sequence[Span]) -> str:
    kinds = {s.kind for s in active}
    if Kind.PRE in kinds:
        return text.replace("```", "ˋˋˋ")
    if Kind.CODE in kinds:
        return _code_text(text)
    written = escape_markdown(text)
    if Kind.LINK in kinds:
        written = written.replace("[", "\\[").replace("]", "\\]")
    if Kind.QUOTE in kinds:
        written = written.replace("\n", "\n> ")
    return written


def to_markdown(text: str, spans: Sequence[Span] = ()) -> str:
    """``text`` as Discord markdown with its formatting; every other character escaped."""
    if not spans:
        return escape_markdown(text)
    return render(text, _plain_links(text, spans), write=_write, open_=_open, close=_close)


def _plain_links(text: str, spans: Sequence[Span]) -> list[Span]:
    """A link whose words are its address needs no mask: Discord links it by itself.
    (Any other address is written as ``[words](<address>)``: shown as a link where Discord
    can, as those characters where it cannot, never lost.)"""
    out = []
    for span in spans:
        if span.kind is Kind.LINK:
            words = text[span.start:span.end]
            url = (span.url or "").strip()
            if words.strip() == url:
                continue  # the words are the address: Discord links it by itself
        out.append(span)
    return out
