"""Where each key of a TOML text is: line numbers for messages about a file's meaning.

``tomllib`` reports the line of a syntax error but returns plain dicts, so a message
such as "schedule.prompts[2] is before the topic opens" would otherwise have no line.
This is a small scanner over already-valid TOML: it skips strings and comments,
follows ``[table]`` headers and records the line of every key and of every element
of an array value.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class KeySpot:
    """The line of a key, and of each element (0-based) when its value is an array."""

    line: int
    elements: list[int] = field(default_factory=list)


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]
        self.spots: dict[str, KeySpot] = {}

    def line(self, index: int) -> int:
        return bisect.bisect_left(self._newlines, index) + 1

    def skip_blank(self, i: int, newlines: bool) -> int:
        """Skip spaces (and newlines and comments when ``newlines``)."""
        while i < self.n:
            c = self.text[i]
            if c in " \t\r" or (newlines and c == "\n"):
                i += 1
            elif newlines and c == "#":
                while i < self.n and self.text[i] != "\n":
                    i += 1
            else:
                break
        return i

    def string(self, i: int) -> int:
        """Index after the string starting at ``i``."""
        text = self.text
        for quote in ('"""', "'''"):
            if text.startswith(quote, i):
                j = i + 3
                while j < self.n:
                    if quote == '"""' and text[j] == "\\":
                        j += 2
                        continue
                    if text.startswith(quote, j):
                        j += 3
                        while j < self.n and text[j] == quote[0]:  # up to two quotes may end it
                            j += 1
                        return j
                    j += 1
                return self.n
        quote = text[i]
        j = i + 1
        while j < self.n and text[j] != quote and text[j] != "\n":
            if quote == '"' and text[j] == "\\":
                j += 1
            j += 1
        return j + 1

    def value(self, i: int, elements: list[int] | None = None) -> int:
        """Index after the value starting at ``i``; array element lines go to ``elements``."""
        i = self.skip_blank(i, newlines=False)
        if i >= self.n:
            return i
        c = self.text[i]
        if c in "\"'":
            return self.string(i)
        if c == "[":
            i += 1
            while True:
                i = self.skip_blank(i, newlines=True)
                if i >= self.n or self.text[i] == "]":
                    return i + 1
                if elements is not None:
                    elements.append(self.line(i))
                i = self.value(i)
                i = self.skip_blank(i, newlines=True)
                if i < self.n and self.text[i] == ",":
                    i += 1
        if c == "{":
            depth = 0
            while i < self.n:
                ch = self.text[i]
                if ch in "\"'":
                    i = self.string(i)
                    continue
                depth += ch == "{"
                depth -= ch == "}"
                i += 1
                if depth == 0:
                    break
            return i
        while i < self.n and self.text[i] not in "\n,]}#":
            i += 1
        return i

    def scan(self) -> dict[str, KeySpot]:
        table = ""
        i = 0
        while i < self.n:
            i = self.skip_blank(i, newlines=True)
            if i >= self.n:
                break
            if self.text[i] == "[":
                end = self.text.find("\n", i)
                end = self.n if end < 0 else end
                header = self.text[i:end].split("#", 1)[0].strip().strip("[]").strip()
                table = _dotted(header)
                i = end
                continue
            eq = self.text.find("=", i)
            if eq < 0:
                break
            key = _dotted(self.text[i:eq].strip())
            full = f"{table}.{key}" if table else key
            spot = KeySpot(self.line(i))
            self.spots.setdefault(full, spot)
            i = self.value(eq + 1, spot.elements)
            end = self.text.find("\n", i)
            i = self.n if end < 0 else end
        return self.spots


def _dotted(key: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in key.split("."))


def locate_keys(text: str) -> dict[str, KeySpot]:
    """Map ``"schedule.prompts"`` (dotted, table included) to where it is in ``text``."""
    return _Scanner(text).scan()
