"""Plain-text helpers shared by every adapter: subjects and splitting long text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

SUBJECT_MAX = 80
EXCERPT_MAX = 120  # characters of a quoted parent: ten words, or fewer in a language without spaces
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def visible_text(text: str) -> bool:
    """Whether ``text`` shows anything: not only spaces, zero-width (format) and control
    characters, which would make an invisible post."""
    return any(not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc") for c in text)


def split_subject(text: str) -> tuple[str | None, str]:
    """Take a forum-style subject line off the top of a message.

    A first line of at most 80 characters followed by a blank line is a subject,
    which is how the seed discussion's comments read ("Engaging Youth and
    Diaspora" + blank line + body). A first line ending in "," ":" or ";" is a
    salutation ("Jessica,"), not a subject. Anything else has no subject.
    """
    head, sep, rest = text.strip().partition("\n\n")
    head = head.strip()
    if (sep and rest.strip() and "\n" not in head and 0 < len(head) <= SUBJECT_MAX
            and not head.endswith((",", ":", ";"))):
        return head, rest.strip()
    return None, text.strip()


def short_subject(text: str, words: int = 8, chars: int = EXCERPT_MAX) -> str:
    """A subject made of the first words of a body, as forums do for untitled posts.

    Capped at ``chars`` characters too: Chinese, Japanese or Thai text has no spaces, and
    ten "words" of it can be the whole post (a quote must stay a quote).
    """
    # Only the first ``words`` words are split off (a subject of a 700-character post
    # need not split all of it); one part more means there were more words.
    parts = text.split(None, words) if words > 0 else " ".join(text.split()).split(" ")
    short = " ".join(parts[:words]) + "…" if len(parts) > words else " ".join(parts)
    return clip(short, chars)


def clip(text: str, chars: int) -> str:
    """``text`` cut to at most ``chars`` characters, with "…" where it was cut."""
    if len(text) <= chars:
        return text
    return text[: max(0, chars - 1)].rstrip() + "…"


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: what Telegram counts ("4096 characters" are units, so an
    emoji outside the Basic Multilingual Plane counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def clip_units(text: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """The longest prefix of ``text`` whose ``measure`` is at most ``limit``."""
    return text[: _fit(text, limit, measure)]


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Split ``text`` into pieces whose ``measure`` is at most ``limit``, in order.

    ``measure`` is the platform's unit (code points for Discord, UTF-16 code units for
    Telegram) or the length after escaping. Prefers paragraph breaks, then line breaks,
    then sentence ends, then spaces, so a long post reads naturally across several
    messages. Never loses a character other than the whitespace at a split, and never
    raises: a limit below one still yields one character per piece (the platform then
    refuses it, which the relay dead-letters with the reason).
    """
    limit = max(1, limit)
    pieces: list[str] = []
    rest = text.strip()
    while rest and measure(rest) > limit:
        fits = _fit(rest, limit, measure)
        cut = _best_cut(rest[: fits + 1], fits)
        piece = rest[:cut].rstrip()
        if not piece:  # only whitespace fitted: take one character rather than loop
            piece, cut = rest[:1], 1
        pieces.append(piece)
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def split_ranges(text: str, limit: int, measure: Callable[[int, int], int]) -> list[tuple[int, int]]:
    """:func:`split_text` as (start, end) ranges of ``text``: for text that carries spans
    (core/richtext), whose pieces keep their formatting. ``measure(start, end)`` weighs
    ``text[start:end]`` as the platform will (after rendering its formatting)."""
    limit = max(1, limit)
    ranges: list[tuple[int, int]] = []
    start, stop = len(text) - len(text.lstrip()), len(text.rstrip())
    while start < stop and measure(start, stop) > limit:
        rest = text[start:stop]
        at = start

        def weigh(piece: str, at: int = at) -> int:
            return measure(at, at + len(piece))

        fits = _fit(rest, limit, weigh)
        cut = _best_cut(rest[: fits + 1], fits)
        size = len(rest[:cut].rstrip())
        if not size:  # only whitespace fitted: take one character rather than loop
            size = cut = 1
        ranges.append((start, start + size))
        start += cut
        start += len(text[start:stop]) - len(text[start:stop].lstrip())
    if start < stop:
        ranges.append((start, stop))
    return ranges


def _fit(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """How many leading characters of ``text`` fit ``limit`` (at least one)."""
    if measure is len:
        return max(1, min(len(text), limit))
    low, high = 1, min(len(text), max(1, limit))  # no unit is shorter than a character
    while low < high:  # the longest prefix that fits; measures only grow with the prefix
        mid = (low + high + 1) // 2
        if measure(text[:mid]) <= limit:
            low = mid
        else:
            high = mid - 1
    return low


def _best_cut(window: str, limit: int) -> int:
    floor = limit // 3  # don't make tiny fragments just to find a nice boundary
    for pattern in ("\n\n", "\n"):
        at = window.rfind(pattern, floor, limit)
        if at > 0:
            return at + len(pattern)
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if floor <= m.end() <= limit]
    if ends:
        return ends[-1]
    at = window.rfind(" ", floor, limit)
    return at + 1 if at > 0 else limit


def name_pattern(name: str) -> re.Pattern[str]:
    """The name as a whole word (or words): "Ann" must not match inside "Annual"."""
    return re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
