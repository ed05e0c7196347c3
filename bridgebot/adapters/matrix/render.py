"""How topics, questions and posts look in Matrix: ``body`` plus escaped ``formatted_body``.

Every event carries an empty ``m.mentions``: clients that follow intentional mentions
(Matrix 1.7) then ping nobody, whatever the text says; "@room" in the plain body is
also broken with a word joiner for older clients. User text is HTML-escaped, so nothing
typed on another platform becomes a pill, a link or markup here.

A Matrix event may be 65,536 bytes of JSON in all. Text is measured as the homeserver
counts it: the bytes of the JSON-encoded ``body`` plus those of the escaped
``formatted_body`` (a control character is six bytes in JSON, ``&`` five in HTML, an
emoji four in UTF-8); a piece holds at most ``LIMIT_BYTES`` of that, which leaves room
for the header, the relations and the envelope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from html import escape
from typing import Any

from bridgebot.adapters.matrix import richtext
from bridgebot.adapters.registry import display_name
from bridgebot.core.models import Post, Prompt, Topic
from bridgebot.core.richtext.spans import Span, plain_with_urls, slice_spans
from bridgebot.core.text import short_subject, split_ranges, split_text
from bridgebot.i18n import Translator, translator

LIMIT_BYTES = 48_000
LIMIT = 8_000  # characters: what the relay may combine (the adapter does not combine)
Content = dict[str, Any]
_ROOM_PING = re.compile("@room", re.IGNORECASE)


def platform_name(platform: str) -> str:
    return display_name(platform)


def ghost_name(post: Post) -> str:
    """"Jessica (Telegram)": the shown name, which privacy rules already chose, and where from."""
    return f"{post.author_name} ({platform_name(post.author_platform)})"[:255]


def _plain(text: str) -> str:
    return _ROOM_PING.sub(lambda m: m.group(0)[0] + "\u2060" + m.group(0)[1:], text)


def _html(text: str) -> str:
    return escape(text, quote=False).replace("\n", "<br>")


def size(text: str) -> int:
    """Bytes ``text`` takes in an event: JSON-encoded as the body, escaped as formatted_body."""
    return (len(json.dumps(_plain(text), ensure_ascii=False).encode())
            + len(json.dumps(_html(text), ensure_ascii=False).encode()))


def content(plain: str, html: str, *, notice: bool = False) -> Content:
    return {
        "msgtype": "m.notice" if notice else "m.text",
        "body": _plain(plain),
        "format": "org.matrix.custom.html",
        "formatted_body": html,
        "m.mentions": {},
    }


def _json_size(text: str) -> int:
    return len(json.dumps(text, ensure_ascii=False).encode())


def _rich_chunks(text: str, spans: Sequence[Span], limit: int) -> list[tuple[str, str]]:
    """(plain, html) pieces of a formatted text, each piece keeping its spans (a link cut
    in two keeps its address on both sides); plain text writes link addresses out."""
    def both(start: int, end: int) -> tuple[str, str]:
        piece = slice_spans(spans, start, end)
        return (_plain(plain_with_urls(text[start:end], piece)),
                richtext.to_html(text[start:end], piece))

    def measure(start: int, end: int) -> int:
        plain, html = both(start, end)
        return _json_size(plain) + _json_size(html)

    return [both(a, b) for a, b in split_ranges(text, limit, measure)]


def _pieces(head_plain: str, head_html: str, body: str, foot_plain: str = "",
            foot_html: str = "", *, notice: bool = False,
            spans: Sequence[Span] = ()) -> list[Content]:
    reserve = size(head_plain) + size(foot_plain) + len(head_html) + len(foot_html) + 32
    chunks: list[tuple[str, str]]
    if not body.strip():
        chunks = [("", "")]
    elif spans:
        chunks = _rich_chunks(body, spans, LIMIT_BYTES - reserve)
    else:
        chunks = [(c, _html(c)) for c in split_text(body, LIMIT_BYTES - reserve, size)]
    out = []
    for i, (chunk, chunk_html) in enumerate(chunks):
        plain = [head_plain] if i == 0 and head_plain else []
        html = [head_html] if i == 0 and head_html else []
        if chunk:
            plain.append(chunk)
            html.append(f"<p>{chunk_html}</p>")
        if foot_plain and i == len(chunks) - 1:
            plain.append(foot_plain)
            html.append(foot_html)
        out.append(content("\n\n".join(plain), "".join(html), notice=notice))
    return out


def topic_contents(topic: Topic, t: Translator | None = None) -> list[Content]:
    """The thread root: title, introduction, how to take part (in the room's language)."""
    t = t or translator()
    foot = t("Reply in this thread, to a question or to any post, to take part. `/help` explains more.")
    foot_html = "<p><em>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(foot, quote=False)) + "</em></p>"
    return _pieces(topic.title, f"<h3>{escape(topic.title, quote=False)}</h3>", topic.chat_introduction,
                   foot.replace("`", ""), foot_html)


def prompt_contents(prompt: Prompt, t: Translator | None = None) -> list[Content]:
    t = t or translator()
    head = t("Question {position}", position=prompt.position)
    return _pieces(f"❓ {head}", f"<p>❓ <strong>{escape(head, quote=False)}</strong></p>",
                   prompt.question)


def post_contents(post: Post, quoted: Post | None = None) -> list[Content]:
    """A mirrored post, sent by the author's ghost: the ghost's name says who, so the text
    carries only the number, the subject and (without a native reply) the parent."""
    plain, html = [f"#{post.number}"], [f"<sup>#{post.number}</sup>"]
    if quoted is not None:
        excerpt = short_subject(quoted.subject or quoted.text, words=10)
        line = f"↪ {quoted.author_name} (#{quoted.number}): {excerpt}"
        plain.append(f"> {line}")
        html.append(f"<blockquote>{escape(line, quote=False)}</blockquote>")
    if post.subject:
        plain.append(post.subject)
        html.append(f"<p><strong>{escape(post.subject, quote=False)}</strong></p>")
    return _pieces("\n".join(plain), "".join(html), post.text, spans=post.spans)


def notice_contents(text: str) -> list[Content]:
    return [content(chunk, f"<p>{_html(chunk)}</p>", notice=True)
            for chunk in split_text(text, LIMIT_BYTES, size)]


def replacement(original_id: str, new: Content) -> Content:
    """An edit (``m.replace``) of ``original_id`` whose new text is ``new``."""
    return {
        "msgtype": new["msgtype"],
        "body": "* " + new["body"],
        "format": new["format"],
        "formatted_body": "* " + new["formatted_body"],
        "m.new_content": new,
        "m.mentions": {},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original_id},
    }


def in_thread(body: Content, root: str | None, reply_to: str | None) -> Content:
    """Place ``body`` in the thread rooted at ``root``; answer ``reply_to`` natively if set."""
    if root is None:
        if reply_to:
            return {**body, "m.relates_to": {"m.in_reply_to": {"event_id": reply_to}}}
        return body
    relates: dict[str, Any] = {"rel_type": "m.thread", "event_id": root}
    relates["is_falling_back"] = reply_to is None
    relates["m.in_reply_to"] = {"event_id": reply_to or root}
    return {**body, "m.relates_to": relates}
