"""Rich text: one neutral form for formatting, links and mentions, and the archive's text.

``spans`` holds the neutral form (:class:`Span` over a post's plain text): adapters read it
from their platform (Telegram entities, Discord markdown) and write it back in theirs, so a
bold word or a link written on one platform arrives formatted, with its address, on every
other. ``archive`` turns post text into the archive's paragraphs, lists and links.
"""

from bridgebot.core.richtext.archive import (
    REL,
    blocks,
    escape_text,
    html_text,
    links,
    split_url,
    to_html,
    to_markdown,
)
from bridgebot.core.richtext.spans import (
    Kind,
    Span,
    clean,
    from_json,
    plain_with_urls,
    render,
    replace_text,
    shift,
    slice_spans,
    to_json,
)

__all__ = [
    "REL", "Kind", "Span", "blocks", "clean", "escape_text", "from_json", "html_text", "links",
    "plain_with_urls", "render",
    "replace_text", "shift", "slice_spans", "split_url", "to_html", "to_json", "to_markdown",
]
