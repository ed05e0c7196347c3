"""Pure building blocks of the fake Telegram Bot API: no HTTP in here.

This module holds what the fake server (:mod:`bridgebot.sandbox.telegram`) needs to
answer like Telegram does, kept apart so each piece can be read and checked on its own:

* :class:`ApiError` - an answer of the form ``{"ok": false, "error_code", "description"}``.
* :func:`parse_html` - Telegram's ``parse_mode=HTML`` parser, a port of the rules of tdlib's
  ``parse_html`` (the code behind the Bot API server), including its error texts.
* :func:`finish_text` - what the server does to a text after parsing: trim the whitespace at
  both ends, detect ``url``/``mention``/``hashtag``/``bot_command`` entities, sort entities and
  turn offsets into UTF-16 code units.
* :class:`RateLimiter` - Telegram's published flood limits, on an injectable clock.
* Dataclasses for the world's state (:class:`BotAccount`, :class:`ChatState`, ...).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

JSONDict = dict[str, Any]

#: Text limits of the Bot API ("1-4096 characters after entities parsing", captions 0-1024).
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

#: Update types a bot receives when it never said which ones it wants (the Bot API default).
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)

#: Administrator rights, in the order the Bot API lists them in ``ChatMemberAdministrator``.
ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)

#: What a bot gets when a user adds it as administrator with the client's default rights.
DEFAULT_BOT_ADMIN_RIGHTS: dict[str, bool] = {
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_pin_messages": True,
    "can_manage_topics": True,
}

#: Permissions of a ``restricted`` member (``ChatMemberRestricted``), all allowed by default.
RESTRICTED_PERMISSIONS = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_react_to_messages",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
    "can_edit_tag",
)

#: The six colours createForumTopic accepts (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, ...).
TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)


class ApiError(Exception):
    """A Bot API failure, answered as ``{"ok": false, ...}`` with ``error_code`` as HTTP status.

    ``description`` is the full text Telegram sends, e.g. ``"Bad Request: chat not found"``;
    ``parameters`` carries ``retry_after`` / ``migrate_to_chat_id`` when Telegram would.
    """

    def __init__(
        self, error_code: int, description: str, parameters: JSONDict | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def envelope(self) -> JSONDict:
        """The JSON body Telegram answers with."""
        body: JSONDict = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = dict(self.parameters)
        return body


def bad_request(text: str) -> ApiError:
    """``400 Bad Request: <text>``, the most common failure."""
    return ApiError(400, f"Bad Request: {text}")


def forbidden(text: str) -> ApiError:
    """``403 Forbidden: <text>``, what a bot gets where it is not (or no longer) welcome."""
    return ApiError(403, f"Forbidden: {text}")


def too_many_requests(retry_after: int) -> ApiError:
    """``429`` with ``parameters.retry_after``, which PTB turns into ``RetryAfter``."""
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


# --------------------------------------------------------------------------------------------
# Text: UTF-16 offsets, HTML parsing, entity detection.
# --------------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Bot API entity offset and length."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _utf16_prefix(text: str) -> list[int]:
    """``prefix[k]`` = UTF-16 offset of code point ``k``; ``prefix[len(text)]`` = total."""
    prefix = [0] * (len(text) + 1)
    for k, ch in enumerate(text):
        prefix[k + 1] = prefix[k] + (2 if ord(ch) > 0xFFFF else 1)
    return prefix


@dataclass
class Span:
    """An entity while it is built: offsets in code points, converted to UTF-16 at the end."""

    type: str
    start: int
    end: int
    extra: JSONDict = field(default_factory=dict)


class EntityParseError(Exception):
    """Raised by :func:`parse_html`; the server answers ``Bad Request: can't parse entities: …``."""


_SUPPORTED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
        "tg-emoji", "span", "pre", "code", "blockquote", "tg-time",
    }
)  # fmt: skip
_SPACES = " \t\r\n\v\0"
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_html_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decodes ``&lt;``-style references like tdlib: the ``;`` is optional, unknown names stay.

    Returns ``(character, position after the reference)`` or ``None`` to keep the ``&``
    literally (tdlib keeps ``&nbsp;``, ``&copy`` or a bare ``&`` as written).
    """
    end = pos + 1
    if end < len(text) and text[end] == "#":
        end += 1
        value = 0
        if end < len(text) and text[end] == "x":
            end += 1
            digits = "0123456789abcdefABCDEF"
            base = 16
        else:
            digits = "0123456789"
            base = 10
        while end < len(text) and text[end] in digits:
            value = value * base + int(text[end], 16)
            end += 1
            if value >= 0x10FFFF:
                return None
        if value == 0:
            return None
        if 0xD800 <= value <= 0xDFFF:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        char = chr(value)
    else:
        while end < len(text) and text[end].isascii() and text[end].isalpha():
            end += 1
        name = text[pos + 1 : end]
        if name not in _NAMED_ENTITIES:
            return None
        char = _NAMED_ENTITIES[name]
    if end < len(text) and text[end] == ";":
        end += 1
    return char, end


def _at(text: str, i: int) -> str:
    """Character at ``i`` or ``"\\0"`` past the end, like tdlib's NUL-terminated buffer."""
    return text[i] if i < len(text) else "\0"


def check_link(url: str) -> str | None:
    """Telegram's link check for ``<a href>``: adds ``http://`` and a ``/`` path, or refuses.

    The real server normalises ``example.com`` to ``http://example.com/`` and silently drops
    links it considers invalid (unknown schemes like ``javascript:``, spaces, no host).
    """
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        return None
    lowered = url.lower()
    if lowered.startswith("tg://") or lowered.startswith("tg:"):
        return url
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https", "ton", "tonsite"} or not parts.hostname:
        return None
    if not parts.path:
        query = f"?{parts.query}" if parts.query else ""
        fragment = f"#{parts.fragment}" if parts.fragment else ""
        url = f"{parts.scheme}://{parts.netloc}/{query}{fragment}"
    return url


_USER_LINK = re.compile(r"^tg://user\?id=(\d+)$", re.IGNORECASE)


def parse_html(html: str, strict: bool = False) -> tuple[str, list[Span]]:
    """Parses Telegram HTML into ``(plain text, spans)``, refusing what Telegram refuses.

    Follows tdlib's ``parse_html`` step by step so that the error texts and byte offsets match
    what the real server puts after ``can't parse entities:``. Like Telegram, a ``&`` that does
    not start a known reference and a lone ``>`` are kept as text; with ``strict=True`` they are
    refused too (the Bot API documentation says they *must* be escaped).
    """
    out: list[str] = []
    spans: list[Span] = []
    # (tag name, argument, start in code points of ``out``)
    stack: list[tuple[str, str, int]] = []
    n = len(html)
    i = 0

    def byte_offset(pos: int) -> int:
        return len(html[:pos].encode("utf-8"))

    while i < n:
        c = html[i]
        if c == "&":
            decoded = _decode_html_entity(html, i)
            if decoded is not None:
                out.append(decoded[0])
                i = decoded[1]
                continue
            if strict:
                raise EntityParseError(
                    f"Character '&' must be escaped at byte offset {byte_offset(i)}"
                )
        if c != "<":
            if strict and c == ">":
                raise EntityParseError(
                    f"Character '>' must be escaped at byte offset {byte_offset(i)}"
                )
            out.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if _at(html, i) != "/":
            while _at(html, i) not in _SPACES and _at(html, i) != ">":
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
            tag = html[begin + 1 : i].lower()
            if tag not in _SUPPORTED_TAGS:
                raise EntityParseError(
                    f'Unsupported start tag "{tag}" at byte offset {byte_offset(begin)}'
                )
            argument = ""
            attributes: dict[str, str] = {}
            while _at(html, i) != ">":
                while i < n and html[i] in _SPACES:
                    i += 1
                if _at(html, i) == ">":
                    break
                attr_begin = i
                while _at(html, i) not in _SPACES and _at(html, i) not in "=>":
                    i += 1
                attr_name = html[attr_begin:i].lower()
                if not attr_name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset '
                        f"{byte_offset(begin)}"
                    )
                while i < n and html[i] in _SPACES:
                    i += 1
                if _at(html, i) != "=":
                    if tag == "blockquote" and attr_name == "expandable":
                        attributes[attr_name] = ""
                        if i >= n:
                            raise EntityParseError(
                                f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                            )
                        continue
                    if i >= n:
                        raise EntityParseError(
                            f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                        )
                    raise EntityParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {byte_offset(begin)}'
                    )
                i += 1
                while i < n and html[i] in _SPACES:
                    i += 1
                if i >= n:
                    raise EntityParseError(
                        f'Unclosed start tag "{tag}" at byte offset {byte_offset(begin)}'
                    )
                if html[i] not in "'\"":
                    token_begin = i
                    while i < n and ((html[i].isascii() and html[i].isalnum()) or html[i] in ".-"):
                        i += 1
                    value = html[token_begin:i].lower()
                    if _at(html, i) not in _SPACES and _at(html, i) != ">":
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {byte_offset(token_begin)}"
                        )
                else:
                    quote = html[i]
                    i += 1
                    chars: list[str] = []
                    while i < n and html[i] != quote:
                        if html[i] == "&":
                            decoded = _decode_html_entity(html, i)
                            if decoded is not None:
                                chars.append(decoded[0])
                                i = decoded[1]
                                continue
                        chars.append(html[i])
                        i += 1
                    if i >= n:
                        raise EntityParseError(
                            f"Unclosed start tag at byte offset {byte_offset(begin)}"
                        )
                    i += 1
                    value = "".join(chars)
                if i >= n:
                    raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
                attributes[attr_name] = value
                if tag == "a" and attr_name == "href":
                    argument = value
                elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif tag == "tg-emoji" and attr_name == "emoji-id":
                    argument = value
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {byte_offset(begin)}'
                )
            if tag == "blockquote" and "expandable" in attributes:
                argument = "expandable"
            if tag == "tg-time":
                argument = f"{attributes.get('unix', '')}|{attributes.get('format', '')}"
            stack.append((tag, argument, len(out)))
            i += 1  # past '>'
            continue

        # An end tag.
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
        while _at(html, i) not in _SPACES and _at(html, i) != ">":
            i += 1
        end_name = html[begin + 2 : i].lower()
        while i < n and html[i] in _SPACES:
            i += 1
        if _at(html, i) != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
        tag, argument, start = stack[-1]
        if end_name and end_name != tag:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                f'expected "</{tag}>", found "</{end_name}>"'
            )
        stack.pop()
        i += 1
        end = len(out)
        if end > start:
            _close_tag(tag, argument, start, end, "".join(out[start:end]), spans)

    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return "".join(out), spans


def _close_tag(tag: str, argument: str, start: int, end: int, inner: str, spans: list[Span]) -> None:
    """Turns a closed, non-empty tag into a span, merging ``<pre><code class>`` like tdlib."""
    simple = {
        "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
        "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
        "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler",
    }  # fmt: skip
    if tag in simple:
        spans.append(Span(simple[tag], start, end))
    elif tag == "blockquote":
        kind = "expandable_blockquote" if argument == "expandable" else "blockquote"
        spans.append(Span(kind, start, end))
    elif tag == "tg-emoji":
        if not argument.isdigit() or int(argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        spans.append(Span("custom_emoji", start, end, {"custom_emoji_id": argument}))
    elif tag == "tg-time":
        unix, _, fmt = argument.partition("|")
        if not unix.isdigit():
            raise EntityParseError("Invalid Unix time specified")
        extra: JSONDict = {"unix_time": int(unix)}
        if fmt:
            extra["date_time_format"] = fmt
        spans.append(Span("date_time", start, end, extra))
    elif tag == "a":
        url = argument or inner
        user = _USER_LINK.match(url)
        if user:
            spans.append(Span("text_mention", start, end, {"user_id": int(user.group(1))}))
            return
        checked = check_link(url)
        if checked is not None:
            spans.append(Span("text_link", start, end, {"url": checked}))
    elif tag == "pre":
        last = spans[-1] if spans else None
        if last and last.type == "code" and (last.start, last.end) == (start, end):
            language = last.extra.pop("language", "")
            spans[-1] = Span("pre", start, end, {"language": language} if language else {})
        else:
            spans.append(Span("pre", start, end))
    elif tag == "code":
        last = spans[-1] if spans else None
        if last and last.type == "pre" and (last.start, last.end) == (start, end):
            if argument:
                last.extra["language"] = argument
        else:
            spans.append(Span("code", start, end, {"language": argument} if argument else {}))


# tdlib's entity order: by offset, longer first, then by a fixed type priority.
_TYPE_PRIORITY = {
    "blockquote": 0, "expandable_blockquote": 0, "pre": 11, "code": 20, "text_link": 49,
    "text_mention": 49, "mention": 50, "hashtag": 50, "cashtag": 50, "bot_command": 50,
    "url": 50, "email": 50, "phone_number": 50, "date_time": 50, "bold": 90, "italic": 91,
    "underline": 92, "strikethrough": 93, "spoiler": 94, "custom_emoji": 99,
}  # fmt: skip

_AUTO_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("url", re.compile(r"(?<![\w@/])(?:https?://)[^\s<>\"]+[^\s<>\"'.,;:!?)\]]", re.IGNORECASE)),
    ("email", re.compile(r"(?<![\w.])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("bot_command", re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#])#(?!\d+\b)\w{1,256}")),
    ("cashtag", re.compile(r"(?<![\w$])\$[A-Z]{1,8}(?![\w$])")),
)
#: Detected entities never overlap these (Telegram does not detect inside code or links).
_OPAQUE_TYPES = frozenset({"code", "pre", "text_link", "text_mention", "custom_emoji", "url"})


def detect_entities(text: str, existing: list[Span]) -> list[Span]:
    """Finds the entities Telegram adds by itself: links, mentions, hashtags, bot commands.

    The server does this for every text a bot sends and every text a user sends, so a bot's
    ``"see https://x.org"`` comes back with a ``url`` entity. Simplified: bare domains
    (``example.com`` without scheme) and phone numbers are not detected.
    """
    taken = [(s.start, s.end) for s in existing if s.type in _OPAQUE_TYPES]
    found: list[Span] = []
    for kind, pattern in _AUTO_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            found.append(Span(kind, start, end))
            taken.append((start, end))
    return found


def finish_text(text: str, spans: list[Span], detect: bool = True) -> tuple[str, list[JSONDict]]:
    """Trims, detects entities and renders the Bot API ``entities`` list (UTF-16 offsets).

    Telegram strips whitespace at both ends of a message text and clips entities to what
    remains; entities of zero length disappear. A ``code`` nested in a ``pre`` of the same
    range is merged into the ``pre`` by :func:`parse_html`; any other entity inside ``code`` or
    ``pre`` is kept as given (tdlib would drop it; rare enough not to matter for the bridge).
    """
    left = len(text) - len(text.lstrip())
    stripped = text.strip()
    right = left + len(stripped)
    clipped: list[Span] = []
    for span in spans:
        start = max(span.start, left) - left
        end = min(span.end, right) - left
        if end > start:
            clipped.append(Span(span.type, start, end, dict(span.extra)))
    if detect:
        clipped.extend(detect_entities(stripped, clipped))
    prefix = _utf16_prefix(stripped)
    rendered: list[tuple[tuple[int, int, int], JSONDict]] = []
    for span in clipped:
        offset = prefix[span.start]
        length = prefix[span.end] - offset
        entity: JSONDict = {"offset": offset, "length": length, "type": span.type}
        entity.update(span.extra)
        rendered.append(((offset, -length, _TYPE_PRIORITY.get(span.type, 50)), entity))
    rendered.sort(key=lambda item: item[0])
    return stripped, [entity for _, entity in rendered]


def spans_from_entities(text: str, entities: list[JSONDict]) -> list[Span]:
    """Turns a caller-supplied ``entities`` list (UTF-16 offsets) back into code-point spans."""
    prefix = _utf16_prefix(text)
    index = {offset: k for k, offset in enumerate(prefix)}
    spans: list[Span] = []
    for entity in entities:
        if not isinstance(entity, dict) or "type" not in entity:
            raise bad_request("can't parse entities: entity must be an object with a type")
        try:
            offset = int(entity["offset"])
            length = int(entity["length"])
        except (KeyError, TypeError, ValueError) as exc:
            raise bad_request("can't parse entities: entity offset and length expected") from exc
        if offset not in index or offset + length not in index:
            # An offset inside a surrogate pair or beyond the text: Telegram clips silently.
            continue
        extra = {k: v for k, v in entity.items() if k not in {"type", "offset", "length"}}
        spans.append(Span(str(entity["type"]), index[offset], index[offset + length], extra))
    return spans


# --------------------------------------------------------------------------------------------
# Rate limits.
# --------------------------------------------------------------------------------------------


@dataclass
class RateLimits:
    """Telegram's published limits for bots (https://core.telegram.org/bots/faq).

    "Avoid sending more than one message per second" in a chat (short bursts are tolerated),
    "no more than 20 messages per minute" in a group and "about 30 messages per second" in
    total. ``per_chat_burst`` is the size of the tolerated burst.
    """

    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    per_group_per_minute: int = 20
    global_per_second: int = 30


class RateLimiter:
    """Counts sends and says how long to wait when a limit would be exceeded.

    A token bucket per chat, a sliding one-minute window per group and a sliding one-second
    window overall. The clock is injected so tests can move time instead of sleeping.
    """

    def __init__(self, clock: Callable[[], float], limits: RateLimits | None = None) -> None:
        self.clock = clock
        self.limits = limits or RateLimits()
        self._buckets: dict[int, tuple[float, float]] = {}
        self._group_windows: dict[int, deque[float]] = {}
        self._global_window: deque[float] = deque()

    def acquire(self, chat_id: int, is_group: bool) -> int | None:
        """Records one send, or returns the ``retry_after`` seconds without recording it."""
        now = self.clock()
        limits = self.limits
        waits: list[float] = []

        tokens, last = self._buckets.get(chat_id, (float(limits.per_chat_burst), now))
        tokens = min(float(limits.per_chat_burst), tokens + (now - last) * limits.per_chat_per_second)
        if tokens < 1.0:
            waits.append((1.0 - tokens) / limits.per_chat_per_second)

        window = self._group_windows.setdefault(chat_id, deque())
        while window and window[0] <= now - 60.0:
            window.popleft()
        if is_group and len(window) >= limits.per_group_per_minute:
            waits.append(window[0] + 60.0 - now)

        while self._global_window and self._global_window[0] <= now - 1.0:
            self._global_window.popleft()
        if len(self._global_window) >= limits.global_per_second:
            waits.append(self._global_window[0] + 1.0 - now)

        if waits:
            return max(1, math.ceil(max(waits)))
        self._buckets[chat_id] = (tokens - 1.0, now)
        if is_group:
            window.append(now)
        self._global_window.append(now)
        return None


# --------------------------------------------------------------------------------------------
# World state.
# --------------------------------------------------------------------------------------------


@dataclass
class Member:
    """A user's standing in a chat, as ``getChatMember`` reports it."""

    status: str
    rights: dict[str, bool] = field(default_factory=dict)
    until_date: int = 0
    custom_title: str | None = None

    def right(self, name: str) -> bool:
        """True if the member holds ``name``; the creator holds every right."""
        if self.status == "creator":
            return True
        if self.status == "administrator":
            return bool(self.rights.get(name, False))
        if self.status == "restricted":
            return bool(self.rights.get(name, True))
        return False

    @property
    def is_present(self) -> bool:
        """Whether the member currently belongs to the chat."""
        if self.status == "restricted":
            return bool(self.rights.get("is_member", True))
        return self.status in {"creator", "administrator", "member"}


@dataclass
class Topic:
    """A forum topic; its id is the id of the service message that created it."""

    message_thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    is_closed: bool = False

    def to_json(self) -> JSONDict:
        """The Bot API ``ForumTopic`` object."""
        body: JSONDict = {
            "message_thread_id": self.message_thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            body["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return body


@dataclass
class ChatState:
    """One chat: its identity, members, messages (by id, in order) and forum topics."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    is_forum: bool = False
    private_user: JSONDict | None = None
    members: dict[int, Member] = field(default_factory=dict)
    messages: dict[int, JSONDict] = field(default_factory=dict)
    deleted_ids: set[int] = field(default_factory=set)
    next_message_id: int = 1
    topics: dict[int, Topic] = field(default_factory=dict)
    deleted: bool = False
    migrated_to: int | None = None
    owner_id: int | None = None

    @property
    def is_group(self) -> bool:
        """Groups and supergroups share the 20 messages per minute limit."""
        return self.type in {"group", "supergroup"}

    @property
    def kind_label(self) -> str:
        """How Telegram names the chat type in 403 texts: ``supergroup chat``, ``group chat``."""
        return {"supergroup": "supergroup chat", "group": "group chat", "channel": "channel chat"}[
            self.type
        ]

    def to_json(self) -> JSONDict:
        """The small ``Chat`` object embedded in messages and updates."""
        if self.type == "private":
            assert self.private_user is not None
            body: JSONDict = {"id": self.id}
            for key in ("first_name", "last_name", "username"):
                if self.private_user.get(key):
                    body[key] = self.private_user[key]
            body["type"] = "private"
            return body
        body = {"id": self.id, "title": self.title}
        if self.username:
            body["username"] = self.username
        body["type"] = self.type
        if self.is_forum:
            body["is_forum"] = True
        return body


@dataclass
class WebhookConfig:
    """What ``setWebhook`` stored, plus the outcome of the last delivery attempt."""

    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    allowed_updates: list[str] | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class WebhookDelivery:
    """One POST of an update to the bot's webhook and the HTTP status that came back."""

    update_id: int
    url: str
    status: int
    secret_token: str | None
    at: float
    error: str | None = None


@dataclass
class BotAccount:
    """A bot known to the fake: its token, ``User`` JSON and pending updates."""

    token: str
    user: JSONDict
    can_read_all_group_messages: bool = False
    updates: list[JSONDict] = field(default_factory=list)
    next_update_id: int = 100000001
    allowed_updates: list[str] | None = None
    webhook: WebhookConfig | None = None
    webhook_task: asyncio.Task[None] | None = None
    poll_generation: int = 0
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    commands: dict[tuple[str, str], list[JSONDict]] = field(default_factory=dict)

    @property
    def id(self) -> int:
        """The bot's user id (the number before ``:`` in its token)."""
        return int(self.user["id"])

    def wants(self, update_type: str) -> bool:
        """Whether an update of this type is created for the bot (``allowed_updates``)."""
        allowed = self.allowed_updates
        if self.webhook is not None and self.webhook.allowed_updates is not None:
            allowed = self.webhook.allowed_updates
        if not allowed:
            return update_type in DEFAULT_UPDATE_TYPES
        return update_type in allowed

    def notify(self) -> None:
        """Wakes every long poll and the webhook sender waiting on this bot."""
        self.wakeup.set()
        self.wakeup = asyncio.Event()


@dataclass
class StoredFile:
    """A file the fake can hand out through ``getFile`` and ``/file/bot<token>/<path>``."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str | None = None
    file_name: str | None = None
