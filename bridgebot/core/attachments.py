"""What the core knows about the files that come with posts: how one is named in a line
when it cannot cross, and which of a post's files fit a platform's limits.

A file that cannot cross (too large for the platform to let a bot download it, or for the
target to accept it, or one too many for a message) is never dropped silently: the copy
carries a line naming it, its type and its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bridgebot.core.models import Attachment, Delivery, Post

MB = 1000 * 1000
MIB = 1024 * 1024


def human_size(size: int) -> str:
    """``812 KB``, ``30.0 MB``: what a reader needs to judge a file, in decimal units."""
    if size < 1000:
        return f"{size} B"
    if size < MB:
        return f"{size / 1000:.0f} KB"
    return f"{size / MB:.1f} MB"


def file_line(attachment: Attachment) -> str:
    """The line that stands for a file that did not cross: its name, type and size."""
    line = f"📎 {attachment.name} ({attachment.mime_type}, {human_size(attachment.size)})"
    return f"{line} {attachment.url}" if attachment.url else line


@dataclass(frozen=True)
class FileLimits:
    """What a platform accepts from a bot in one message.

    ``per_file`` bytes for any file, ``per_photo`` for a photo shown as one (Telegram: 10 MB),
    ``per_message`` bytes all files together (Discord: 10 MiB), ``count`` files per message.
    """

    per_file: int
    per_message: int | None = None
    per_photo: int | None = None
    count: int = 10


def split_fitting(attachments: Sequence[Attachment],
                  limits: FileLimits) -> tuple[list[Attachment], list[Attachment]]:
    """(the files that go as uploads, those that become lines), in the author's order."""
    fit: list[Attachment] = []
    left: list[Attachment] = []
    total = 0
    for a in attachments:
        if not a.stored or a.size > limits.per_file or len(fit) >= limits.count:
            left.append(a)
            continue
        if limits.per_message is not None and total + a.size > limits.per_message:
            left.append(a)
            continue
        fit.append(a)
        total += a.size
    return fit, left


def lines_for(attachments: Sequence[Attachment]) -> str:
    return "\n".join(file_line(a) for a in attachments)


def with_lines(post: Post, attachments: Sequence[Attachment]) -> Post:
    """The post with a line for each of ``attachments`` after its text."""
    lines = lines_for(attachments)
    return replace(post, text="\n\n".join(x for x in (post.text, lines) if x))


def as_lines(delivery: Delivery) -> Delivery:
    """For a platform that carries no files yet: every file of the post as a line."""
    post = delivery.post
    if post is None or not post.attachments:
        return delivery
    return replace(delivery, post=replace(with_lines(post, post.attachments), attachments=()))


# Images a browser shows inline from the archive; everything else is offered as a download
# (an SVG or HTML file could run script in the archive's origin).
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})


def shows_inline(attachment: Attachment) -> bool:
    return attachment.stored and attachment.mime_type in INLINE_IMAGES


def file_href(attachment: Attachment) -> str:
    """Where an archive page links a stored file, relative to the page: the data directory's
    own layout (``files/ab/abcdef…``, by SHA-256), so a page exported beside the database
    finds its files, and ``export -o`` copies them the same way. The name is the link's text
    and its download name."""
    return f"files/{attachment.sha256[:2]}/{attachment.sha256}"


def with_archive_links(post: Post, topic_url: str) -> Post:
    """The post with each stored file's archive address (``topic_url`` + :func:`file_href`),
    so a file a chat cannot take is still one click away for its readers."""
    return replace(post, attachments=tuple(
        replace(a, url=topic_url + file_href(a)) if a.stored else a for a in post.attachments))


def file_extension(attachment: Attachment) -> str:
    """``.pdf``, ``.jpg``: from the name, else the type; empty when neither says."""
    base = attachment.name.rsplit("/", 1)[-1]
    if "." in base.lstrip("."):
        ext = base.rsplit(".", 1)[-1].lower()
        if ext.isalnum() and len(ext) <= 8:
            return f".{ext}"
    known = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp",
             "image/gif": ".gif", "application/pdf": ".pdf", "video/mp4": ".mp4",
             "audio/ogg": ".ogg", "audio/mpeg": ".mp3"}
    return known.get(attachment.mime_type, "")
