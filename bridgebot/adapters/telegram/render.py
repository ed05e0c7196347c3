"""How topics, questions and posts look in Telegram: HTML with every user text escaped.

Telegram's limit ("1-4096 characters after entities parsing") counts the parsed text
in UTF-16 code units (an emoji beyond the Basic Multilingual Plane is two), so long
bodies are split as plain text, measured in UTF-16, and each piece escaped afterwards;
the header (author, platform, post number, subject) goes on the first piece only. Names
and quoted excerpts are capped, so a header always leaves room for text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from bridgebot.adapters.registry import display_name
from bridgebot.adapters.telegram.richtext import to_html
from bridgebot.core.models import Post, Prompt, Topic
from bridgebot.core.richtext.spans import Kind, Span, plain_with_urls, slice_spans
from bridgebot.core.text import clip, short_subject, split_ranges, utf16_len
from bridgebot.i18n import Translator, translator

LIMIT = 4096
CONTINUED = "…"  # what a piece of a post becomes when an edit no longer needs it
NAME_MAX = 100  # characters of an author's name in a header (Telegram names are up to 128)


def length(plain: str) -> int:
    """A message's length as Telegram counts it: UTF-16 code units of the parsed text."""
    return utf16_len(plain)


def _plain_len(header_plain: str) -> int:
    return length(header_plain) + 2


def topic_message(topic: Topic, t: Translator | None = None) -> list[tuple[str, str]]:
    """(html, plain) pieces announcing a topic, the bot's words in ``t``'s language (the chat's)."""
    t = t or translator()
    header = f"<b>{escape(topic.title)}</b>"
    footer = t("Reply to this message, a question or any post to take part. /help explains more.")
    return _pieces(header, topic.title, topic.chat_introduction, f"<i>{escape(footer)}</i>", footer)


def prompt_message(prompt: Prompt, t: Translator | None = None) -> list[tuple[str, str]]:
    t = t or translator()
    head = t("Question {position}", position=prompt.position)
    return _pieces(f"❓ <b>{escape(head)}</b>", f"❓ {head}", prompt.question)


def post_message(post: Post, parent: Post | None = None,
                 first_limit: int = LIMIT) -> list[tuple[str, str]]:
    """A mirrored post; ``parent`` adds a quoted pointer when no native reply is possible.
    ``first_limit``: the first piece's limit (a file's caption: 1024), the others' 4096."""
    header, header_plain = _post_header(post, parent)
    return _pieces(header, header_plain, post.text, spans=post.spans, first_limit=first_limit)


def post_block(post: Post, parent: Post | None = None) -> tuple[str, str]:
    """A post as one block of a combined message (never split): (html, plain)."""
    header, header_plain = _post_header(post, parent)
    return (f"{header}\n{to_html(post.text, post.spans)}",
            f"{header_plain}\n{plain_with_urls(post.text, post.spans)}")


def _post_header(post: Post, parent: Post | None) -> tuple[str, str]:
    platform = display_name(post.author_platform)
    name = clip(post.author_name, NAME_MAX)
    header_plain = f"{name} · {platform} · #{post.number}"
    header = f"<b>{escape(name)}</b> · {escape(platform)} · #{post.number}"
    if parent is not None:
        excerpt = short_subject(parent.subject or parent.text, words=10)
        parent_name = clip(parent.author_name, NAME_MAX)
        header += f"\n<i>↪ {escape(parent_name)} (#{parent.number}): {escape(excerpt)}</i>"
        header_plain += f"\n↪ {parent_name} (#{parent.number}): {excerpt}"
    if post.subject:
        header += f"\n<b>{escape(post.subject)}</b>"
        header_plain += f"\n{post.subject}"
    return header, header_plain


def notice(text: str) -> list[tuple[str, str]]:
    return [(escape(text), text)]


def _weigh(text: str, spans: Sequence[Span]) -> Callable[[int, int], int]:
    """How long ``text[a:b]`` is in the larger of its two forms: the HTML once parsed (the
    text) and the plain text sent when Telegram cannot parse it, where each link's address
    follows its words. Many links' addresses can make the plain form the longer one, and a
    piece must fit in either."""
    links = [s for s in spans if s.kind is Kind.LINK]
    if not links:
        return lambda a, b: length(text[a:b])
    return lambda a, b: length(plain_with_urls(text[a:b], slice_spans(links, a, b)))


def _pieces(header: str, header_plain: str, body: str, footer: str = "",
            footer_plain: str = "", spans: Sequence[Span] = (),
            first_limit: int = LIMIT) -> list[tuple[str, str]]:
    """Split ``body`` so that each piece, once parsed, fits Telegram's limit (the first
    piece ``first_limit``: a caption's is shorter).

    Each piece is (html, plain): ``plain`` is what is sent if Telegram cannot parse the
    HTML, with every link's address written out so that it is never lost.
    """
    reserve = _plain_len(header_plain) + (length(footer_plain) + 2 if footer_plain else 0)
    ranges = split_ranges(body, LIMIT - reserve, _weigh(body, spans)) if body.strip() else []
    if ranges and first_limit < LIMIT:  # the first piece shorter, the rest as before
        first = split_ranges(body, first_limit - reserve, _weigh(body, spans))[0]
        rest = body[first[1]:]
        ranges = [first] + [(first[1] + a, first[1] + b) for a, b in split_ranges(
            rest, LIMIT - reserve, _weigh(rest, slice_spans(spans, first[1], len(body))))]
    chunks = [(body[a:b], slice_spans(spans, a, b)) for a, b in ranges] or [("", ())]
    out: list[tuple[str, str]] = []
    for i, (chunk, chunk_spans) in enumerate(chunks):
        html_parts = [header] if i == 0 else []
        plain_parts = [header_plain] if i == 0 else []
        if chunk:
            html_parts.append(to_html(chunk, chunk_spans))
            plain_parts.append(plain_with_urls(chunk, chunk_spans))
        if footer and i == len(chunks) - 1:
            html_parts.append(footer)
            plain_parts.append(footer_plain)
        out.append(("\n\n".join(html_parts), "\n\n".join(plain_parts)))
    return out
