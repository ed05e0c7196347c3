"""Plain-text helpers shared by every adapter: subjects and splitting long text."""

from __future__ import annotations

import re

SUBJECT_MAX = 80
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


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


def short_subject(text: str, words: int = 8) -> str:
    """A subject made of the first words of a body, as forums do for untitled posts."""
    first = " ".join(text.split())
    parts = first.split(" ")
    if len(parts) <= words:
        return first
    return " ".join(parts[:words]) + "…"


def split_text(text: str, limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, in order.

    Prefers paragraph breaks, then line breaks, then sentence ends, then spaces, so
    a long post reads naturally across several messages. Never loses a character
    other than the whitespace at a split.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = _best_cut(window, limit)
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


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
