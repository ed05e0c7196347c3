"""Plain post text as safe HTML: paragraphs, "•" lines as lists, clickable links.

People write plain text in chats; the forum showed their bullet lines as lists and their
addresses as links. Every piece of the text is escaped first, and only the tags made here
are added, so nothing a person writes can become markup. Links carry
``rel="nofollow ugc noopener"``: the archive does not vouch for what participants link.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

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


def links(text: str) -> Markup:
    """``text`` escaped, with each web address turned into a link."""
    out: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url, rest = split_url(match.group(0))
        if len(url) <= len("www.") or url.lower() in ("http://", "https://"):
            continue
        href = url if url.lower().startswith(("http://", "https://")) else f"https://{url}"
        out.append(escape(text[position:match.start()]))
        out.append(Markup('<a href="{}" rel="{}">{}</a>').format(href, REL, url))
        out.append(escape(rest))
        position = match.end()
    out.append(escape(text[position:]))
    return Markup("").join(out)


def _bullet(line: str) -> str | None:
    """The item's text when ``line`` is a list item ("• text", "- text", "* text")."""
    match = _BULLET.match(line)
    if match is None or not line[match.end():].strip():
        return None
    return line[match.end():]


def blocks(text: str) -> list[tuple[str, list[str]]]:
    """The text as ("p", lines) paragraphs and ("ul", items) lists, in order."""
    found: list[tuple[str, list[str]]] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
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


def to_html(text: str) -> Markup:
    """Paragraphs (single line breaks kept) and lists; each with ``dir="auto"``."""
    parts: list[Markup] = []
    for kind, lines in blocks(text):
        if kind == "ul":
            items = Markup("").join(Markup("<li>{}</li>").format(links(item.strip())) for item in lines)
            parts.append(Markup('<ul dir="auto">{}</ul>').format(items))
        else:
            body = Markup("<br>\n").join(links(line) for line in lines)
            parts.append(Markup('<p dir="auto">{}</p>').format(body))
    return Markup("\n").join(parts)


def to_markdown(text: str) -> str:
    """"•" lines as markdown list items; the rest as written."""
    lines = []
    for line in text.splitlines():
        item = _bullet(line)
        lines.append(line if item is None else f"- {item.strip()}")
    return "\n".join(lines)
