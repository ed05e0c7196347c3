"""How topics, questions and posts look in Discord: escaped markdown, names as webhook users.

Text from other platforms is shown as written: markdown is escaped and every send
uses ``allowed_mentions=none``, so "@everyone" or "**bold**" typed on Telegram is
inert text here.
"""

from __future__ import annotations

from collections.abc import Sequence

from discord.utils import escape_markdown

from bridgebot.adapters.discord.markdown import to_markdown
from bridgebot.adapters.registry import display_name
from bridgebot.core.models import Post, Prompt, Topic
from bridgebot.core.names import SOMEONE
from bridgebot.core.richtext.spans import Span, slice_spans
from bridgebot.core.text import clip, short_subject, split_ranges, split_text
from bridgebot.i18n import Translator, translator

LIMIT = 2000  # characters (code points: the OpenAPI spec's maxLength for message content)
USERNAME_MAX = 80
CONTINUED = "…"  # what a piece of a post becomes when an edit no longer needs it
NAME_MAX = 100  # characters of a name inside a message's text
# Discord's documented rules for names (no "@", "#", ":", "```"); a look-alike keeps the
# name readable.
_FORBIDDEN_IN_NAMES = {"@": "＠", "#": "＃", ":": "：", "```": "ˋˋˋ"}
# What Discord's API refuses in webhook usernames (400, 50035), more than it documents: these
# words anywhere, in any case, zero-width characters ignored ("Disc\u200bord" and
# "Groundsphere" are refused). A name with one of them goes out under a neutral name with
# the author's name in the text (see safe_username); so does any other name Discord refuses.
REFUSED_IN_USERNAMES = ("discord", "clyde", "everyone", "here")
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"), None)
# Discord's own name, beside authors from another Discord channel: with a Cyrillic "о" it
# reads the same and is not the word Discord refuses.
DISCORD_LABEL = "Disc\u043erd"


def escape(text: str) -> str:
    return escape_markdown(text)


def escaped_len(text: str) -> int:
    """What ``text`` weighs once escaped: pieces are cut before escaping, so an escape is
    never split from the character it protects."""
    return len(escape(text))


def split_escaped(text: str, limit: int) -> list[str]:
    """``text`` in escaped pieces of at most ``limit`` characters each."""
    return [escape(piece) for piece in split_text(text, limit, escaped_len)]


def split_rich(text: str, spans: Sequence[Span], limit: int) -> list[str]:
    """``text`` with its formatting as markdown pieces of at most ``limit`` characters each,
    measured after rendering (a link cut in two keeps its address in both pieces)."""
    if not spans:
        return split_escaped(text, limit)

    def rendered(start: int, end: int) -> str:
        return to_markdown(text[start:end], slice_spans(spans, start, end))

    return [rendered(a, b) for a, b in
            split_ranges(text, limit, lambda a, b: len(rendered(a, b)))]


def webhook_username(post: Post) -> str | None:
    """"Kristin Antin · Telegram", made acceptable to Discord's username rules; None when
    the name itself has a word Discord refuses (then :func:`safe_username`, and the name in
    the text: people's names are not respelled)."""
    name = _clean_username(f"{post.author_name} · {_label(post.author_platform)}")
    return None if username_refused(name) else name


def username_refused(name: str) -> bool:
    """Whether Discord refuses ``name`` as a webhook username, by the rules known here."""
    folded = name.translate(_INVISIBLE).casefold()
    return any(word in folded for word in REFUSED_IN_USERNAMES)


def safe_username(platforms: set[str]) -> str:
    """The neutral name a post goes under when its author's would be refused:
    "Participant · Telegram" (the author's name is then in the text)."""
    labels = {_label(p) for p in platforms}
    name = f"{SOMEONE} · {labels.pop()}" if len(labels) == 1 else SOMEONE
    return SOMEONE if username_refused(name) else name


def _label(platform: str) -> str:
    shown = display_name(platform)
    return DISCORD_LABEL if shown.casefold() == "discord" else shown


def topic_pieces(topic: Topic, t: Translator | None = None) -> list[str]:
    """The topic's opening message; the bot's own words in ``t``'s language (the channel's)."""
    head = f"## {escape(topic.title)}"
    t = t or translator()
    footer = "-# " + t(
        "Reply in this thread, to a question or to any post, to take part. `/help` explains more.")
    return _pieces(head, topic.chat_introduction, footer)


def prompt_pieces(prompt: Prompt, t: Translator | None = None) -> list[str]:
    t = t or translator()
    head = t("Question {position}", position=prompt.position)
    return _pieces(f"❓ **{head}**", prompt.question)


def post_pieces(post: Post, *, quote: str | None = None, with_author: bool = False) -> list[str]:
    """A mirrored post; ``with_author`` puts the name in the text (bot-message fallback)."""
    lines = []
    if with_author:
        platform = display_name(post.author_platform)
        lines.append(f"**{escape(clip(post.author_name, NAME_MAX))}** · {platform} · #{post.number}")
    if quote:
        lines.append(quote)
    if post.subject:
        lines.append(f"**{escape(post.subject)}**")
    head = "\n".join(lines)
    footer = "" if with_author else f"-# #{post.number}"
    return _pieces(head, post.text, footer, post.spans)


def post_block(post: Post, parent: Post | None) -> str:
    """A post as one block of a combined message: author line, parent pointer, text."""
    platform = display_name(post.author_platform)
    lines = [f"**{escape(clip(post.author_name, NAME_MAX))}** · {platform} · #{post.number}"]
    if parent is not None:
        lines.append(reply_quote(parent, None))
    if post.subject:
        lines.append(f"**{escape(post.subject)}**")
    lines.append(to_markdown(post.text, post.spans))
    return "\n".join(lines)


def combined_username(posts: list[Post]) -> str:
    """"Brittany Landorf, Jessica +2 · Telegram" for a combined webhook message (each block
    names its author too), or a neutral name when Discord would refuse that one."""
    names = list(dict.fromkeys(p.author_name for p in posts))
    platforms = {_label(p.author_platform) for p in posts}
    shown = ", ".join(names[:2]) + (f" +{len(names) - 2}" if len(names) > 2 else "")
    where = platforms.pop() if len(platforms) == 1 else "several chats"
    name = _clean_username(f"{shown} · {where}")
    return safe_username({p.author_platform for p in posts}) if username_refused(name) else name


def _clean_username(name: str) -> str:
    for bad, good in _FORBIDDEN_IN_NAMES.items():
        name = name.replace(bad, good)
    return name[:USERNAME_MAX]


def reply_quote(parent: Post, link: str | None) -> str:
    """A one-line pointer to the parent, for webhook posts (webhooks cannot reply natively)."""
    excerpt = escape(short_subject(parent.subject or parent.text, words=10))
    target = f"[#{parent.number}]({link})" if link else f"#{parent.number}"
    return f"> ↪ {escape(clip(parent.author_name, NAME_MAX))} ({target}): {excerpt}"


def clip_message(text: str) -> str:
    """One message's text within the limit (an edit may not become two messages)."""
    return text if len(text) <= LIMIT else text[: LIMIT - 1] + CONTINUED


def notice(text: str) -> list[str]:
    return [escape(text)]


def _pieces(head: str, body: str, footer: str = "", spans: Sequence[Span] = ()) -> list[str]:
    reserve = len(head) + 2 + (len(footer) + 1 if footer else 0)
    chunks = split_rich(body, spans, LIMIT - reserve) if body.strip() else [""]
    out = []
    for i, chunk in enumerate(chunks):
        parts = [head] if i == 0 and head else []
        if chunk:
            parts.append(chunk)
        text = "\n\n".join(parts) if i == 0 else chunk
        if footer and i == len(chunks) - 1:
            text = f"{text}\n{footer}" if text else footer
        out.append(text)
    return out
