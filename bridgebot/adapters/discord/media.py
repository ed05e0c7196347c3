"""Files on Discord: attachments read through discord.py (``Attachment.read``), sent as
multipart uploads (``payload_json`` + ``files[n]``) on the webhook or as the bot.

Never by the CDN URL on the other side: it names the uploader's channel and expires.
A message takes at most 10 attachments and 10 MiB in all, more in a guild whose boost tier
allows it (``Guild.filesize_limit``); Discord refuses more with error 40005.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import discord

from bridgebot.adapters.discord import FILE_LIMITS
from bridgebot.core.attachments import FileLimits
from bridgebot.core.models import Attachment
from bridgebot.core.ports import FilePort

LIMITS = FILE_LIMITS
TOO_LARGE = 40005  # "Request entity too large"


def limits_for(channel: object) -> FileLimits:
    """The guild's upload limit (its boost tier), else Discord's default."""
    guild = getattr(channel, "guild", None)
    limit = getattr(guild, "filesize_limit", None)
    if isinstance(limit, int) and limit > LIMITS.per_file:
        return FileLimits(per_file=limit, per_message=limit, count=LIMITS.count)
    return LIMITS


def kind_of(content_type: str | None, filename: str) -> str:
    kind = (content_type or "").split("/")[0]
    if kind == "image" and not filename.lower().endswith(".gif"):
        return "photo"
    if filename.lower().endswith(".gif"):
        return "animation"
    if kind == "video":
        return "video"
    if kind == "audio":
        return "voice" if "voice-message" in filename or filename == "voice-message.ogg" else "audio"
    return "document"


async def fetch(files: FilePort | None, attachment: discord.Attachment) -> Attachment:
    """Read one attachment through the library and store it."""
    mime = (attachment.content_type or "application/octet-stream").split(";")[0].strip()
    kind = kind_of(mime, attachment.filename)
    if files is None:
        return Attachment(attachment.filename, mime, attachment.size, "", kind)
    data = await attachment.read()
    return await files.put(data, attachment.filename, mime, kind)


def uploads(paths: Sequence[tuple[Attachment, Path]]) -> list[discord.File]:
    return [discord.File(path, filename=attachment.name) for attachment, path in paths]
