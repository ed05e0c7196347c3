"""Files on Discord: attachments read through discord.py (``Attachment.read``), sent as
multipart uploads (``payload_json`` + ``files[n]``) on the webhook or as the bot.

Never by the CDN URL on the other side: it names the uploader's channel and expires.
A message takes at most 10 attachments and 10 MiB in all, more in a guild whose boost tier
allows it (``Guild.filesize_limit``); Discord refuses more with error 40005.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import discord
import yarl

from bridgebot.adapters.discord import FILE_LIMITS
from bridgebot.core.attachments import FileLimits
from bridgebot.core.models import Attachment
from bridgebot.core.ports import FilePort
from bridgebot.media import download_target

log = logging.getLogger(__name__)
LIMITS = FILE_LIMITS
TOO_LARGE = 40005  # "Request entity too large"
CHUNK = 256 * 1024
STICKER_CDN = "https://media.discordapp.net"
STILL_STICKERS = (discord.StickerFormatType.png, discord.StickerFormatType.apng)


def sticker_cdn(api_base_url: str) -> str:
    """Where sticker images are: Discord's media CDN, or a self-hosted API's own origin
    (the sandbox serves them there, as it serves attachments)."""
    url = yarl.URL(api_base_url)
    if url.host in ("discord.com", "discordapp.com"):
        return STICKER_CDN
    return str(url.origin())


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


async def fetch(files: FilePort | None, attachment: discord.Attachment,
                session: aiohttp.ClientSession | None = None) -> Attachment:
    """Fetch one attachment and store it. With ``session``, streamed to a temporary file in
    chunks (the address discord.py's ``Attachment.read`` fetches, which would hold the
    whole file in memory, and a 20 MB file more than once); else through the library."""
    mime = (attachment.content_type or "application/octet-stream").split(";")[0].strip()
    kind = kind_of(mime, attachment.filename)
    if files is None:
        return Attachment(attachment.filename, mime, attachment.size, "", kind)
    if session is None:
        return await files.put(await attachment.read(), attachment.filename, mime, kind)
    handle, path = download_target()
    try:
        with os.fdopen(handle, "wb") as out:
            async with session.get(attachment.url) as response:
                response.raise_for_status()
                async for chunk in response.content.iter_chunked(CHUNK):
                    await asyncio.to_thread(out.write, chunk)
        return await files.put(path, attachment.filename, mime, kind)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


async def fetch_sticker(files: FilePort, sticker: discord.StickerItem,
                        session: aiohttp.ClientSession, cdn: str) -> Attachment | None:
    """A PNG or APNG sticker's image, stored as a photo named after the sticker; None for
    a Lottie or GIF sticker or one the CDN does not give (its name line crosses instead).
    discord.py's ``StickerItem.url`` names cdn.discordapp.com; the image is fetched from
    ``{cdn}/stickers/{id}.png`` and uploaded again, never linked."""
    if sticker.format not in STILL_STICKERS:
        return None
    try:
        async with session.get(f"{cdn}/stickers/{sticker.id}.png") as response:
            response.raise_for_status()
            data = await response.read()
    except (aiohttp.ClientError, TimeoutError) as err:
        log.warning("discord sticker %s could not be fetched: %s", sticker.id, type(err).__name__)
        return None
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in sticker.name) or "sticker"
    return await files.put(data, f"{name}.png", "image/png", "photo")


def uploads(paths: Sequence[tuple[Attachment, Path]]) -> list[discord.File]:
    return [discord.File(path, filename=attachment.name) for attachment, path in paths]
