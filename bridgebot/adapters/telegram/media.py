"""Files on Telegram: fetched through the Bot API (``getFile``, then its file address read
in chunks to disk, as python-telegram-bot would but without holding the file in memory),
sent as multipart uploads (``sendPhoto``, ``sendDocument``, ``sendMediaGroup`` ...).

Never by Telegram's file URL on the other side: it holds the bot token. Bots may download
files up to 20 MB and upload up to 50 MB (photos up to 10 MB; a larger picture goes as a
document) (core.telegram.org/bots/api#getfile, #sending-files).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiohttp
from telegram import (
    Bot,
    InputFile,
    InputMediaAudio,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    Message,
)
from telegram import error as tg

from bridgebot.adapters.telegram import FILE_LIMITS
from bridgebot.core.attachments import MB
from bridgebot.core.models import Attachment
from bridgebot.core.ports import FilePort
from bridgebot.media import download_target

log = logging.getLogger(__name__)

DOWNLOAD_MAX = 20 * MB
LIMITS = FILE_LIMITS
CAPTION_LIMIT = 1024  # UTF-16 units after entity parsing
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Incoming:
    """One file of a message, as Telegram describes it."""

    kind: str
    file_id: str
    name: str
    mime_type: str
    size: int


_EXTENSIONS = {"image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4", "audio/ogg": "ogg",
               "audio/mpeg": "mp3", "image/gif": "gif", "application/x-tgsticker": "tgs",
               "video/webm": "webm"}


def _name(kind: str, mime: str, given: str | None, number: int) -> str:
    if given:
        return given
    return f"{kind}-{number}.{_EXTENSIONS.get(mime, 'bin')}"


def files_of(message: Message) -> tuple[list[Incoming], str | None]:
    """The files a message carries, and a text that stands for what is no file (an animated
    sticker: its emoji). A photo is its largest size that a bot may download."""
    number = message.message_id
    if message.photo:
        fitting = [p for p in message.photo if (p.file_size or 0) <= DOWNLOAD_MAX]
        best = max(fitting or message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        return [Incoming("photo", best.file_id, _name("photo", "image/jpeg", None, number),
                         "image/jpeg", best.file_size or 0)], None
    sticker = message.sticker
    if sticker is not None:
        if sticker.is_animated or sticker.is_video:
            return [], sticker.emoji or "🙂"
        return [Incoming("sticker", sticker.file_id, _name("sticker", "image/webp", None, number),
                         "image/webp", sticker.file_size or 0)], None
    for kind, default_mime in (("animation", "video/mp4"), ("document", "application/octet-stream"),
                               ("video", "video/mp4"), ("voice", "audio/ogg"),
                               ("audio", "audio/mpeg"), ("video_note", "video/mp4")):
        item = getattr(message, kind, None)
        if item is None:
            continue
        mime = getattr(item, "mime_type", None) or default_mime
        given = getattr(item, "file_name", None)
        return [Incoming(kind, item.file_id, _name(kind, mime, given, number), mime,
                         item.file_size or 0)], None
    return [], None


async def fetch(bot: Bot, files: FilePort | None, incoming: Incoming,
                timeout: float) -> Attachment:
    """Download one file through the Bot API and store it; a file over the download limit
    (or one the store cannot keep) comes back unstored: its name, type and size only."""
    unstored = Attachment(incoming.name, incoming.mime_type, incoming.size, "", incoming.kind)
    if files is None or incoming.size > DOWNLOAD_MAX:
        return unstored
    handle, path = download_target()
    os.close(handle)
    try:
        try:
            found = await bot.get_file(incoming.file_id, read_timeout=timeout)
            if found.file_path and found.file_path.startswith(("http://", "https://")):
                await _stream(found.file_path, path, timeout)
            else:  # a Bot API server in local mode: the file is on this machine
                await found.download_to_drive(path, read_timeout=timeout)
        except tg.BadRequest as err:
            if "too big" in err.message.lower():
                return unstored
            raise
        return await files.put(path, incoming.name, incoming.mime_type, incoming.kind)
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)


async def _stream(url: str, path: Path, timeout: float) -> None:
    """The file at ``url`` (Telegram's file address, which holds the bot token: used here
    and nowhere else, never logged) written to ``path`` in chunks. python-telegram-bot's
    ``download_to_drive`` reads the whole file into memory first, so five 20 MB files
    crossing at once took ``bridgebot run`` over 150 MB. Failures are the library's own
    errors, so the caller handles them as it handles ``getFile``'s."""
    limits = aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)
    try:
        # trust_env: through the same HTTPS_PROXY / ALL_PROXY as python-telegram-bot's
        # getFile, or a host that reaches Telegram only by its proxy could not download.
        async with aiohttp.ClientSession(timeout=limits, trust_env=True) as session, \
                session.get(url) as response:
            if response.status == 400:
                raise tg.BadRequest((await response.text())[:200])
            if response.status >= 400:
                raise tg.NetworkError(f"file download answered {response.status}")
            with path.open("wb") as out:
                async for chunk in response.content.iter_chunked(CHUNK):
                    await asyncio.to_thread(out.write, chunk)
    except TimeoutError:
        raise tg.TimedOut("file download timed out") from None
    except aiohttp.ClientError as err:
        raise tg.NetworkError(f"file download failed: {type(err).__name__}") from None


def too_big(attachments: Sequence[Attachment]) -> list[Attachment]:
    """The files Telegram would not let the bot fetch."""
    return [a for a in attachments if not a.stored and a.size > DOWNLOAD_MAX]


def _input(path: Path, attachment: Attachment, opened: list[BinaryIO], *,
           attach: bool = False) -> InputFile:
    """The file as a multipart part (``attach``: referred to as ``attach://…`` in a group),
    streamed from disk rather than read into memory (``opened`` collects the handles for
    the caller to close)."""
    handle = path.open("rb")
    opened.append(handle)
    return InputFile(handle, filename=attachment.name, attach=attach, read_file_handle=False)


def method_for(attachment: Attachment) -> str:
    """The Bot API method that shows this file as what it is."""
    kind = attachment.kind
    if kind == "photo" or (kind == "sticker" and attachment.size <= 10 * MB):
        return "photo" if attachment.size <= (LIMITS.per_photo or 0) else "document"
    if attachment.mime_type.startswith("image/") and kind == "document":
        return "document"
    if kind in ("video", "video_note") or (kind == "document" and attachment.mime_type == "video/mp4"):
        return "video"
    if kind == "animation":
        return "animation"
    if kind == "voice" and attachment.mime_type == "audio/ogg":
        return "voice"
    if kind in ("audio", "voice") or attachment.mime_type in ("audio/mpeg", "audio/mp4", "audio/ogg"):
        return "audio"
    return "document"


async def send_files(bot: Bot, chat_id: int, paths: Sequence[tuple[Attachment, Path]],
                     caption: str | None, *, html: bool = True, **kwargs: object) -> list[Message]:
    """One message with the files (one upload, or a media group of 2-10), captioned
    (``html``: the caption is Telegram HTML, else plain text).

    Telegram groups photos and videos together, documents with documents, audio with audio;
    a mix that cannot share one group goes as one message per file, the caption on the first.
    """
    opened: list[BinaryIO] = []
    try:
        return await _send_files(bot, chat_id, paths, caption, opened, html, **kwargs)
    finally:
        for handle in opened:
            handle.close()


async def _send_files(bot: Bot, chat_id: int, paths: Sequence[tuple[Attachment, Path]],
                      caption: str | None, opened: list[BinaryIO], html: bool,
                      **kwargs: object) -> list[Message]:
    parse: dict[str, object] = {}
    if caption:
        parse = {"caption": caption, "parse_mode": "HTML"} if html else {"caption": caption}
    methods = [method_for(a) for a, _ in paths]
    if len(paths) == 1:
        (attachment, path), method = paths[0], methods[0]
        send = getattr(bot, f"send_{method}")
        return [await send(chat_id, _input(path, attachment, opened), **parse, **kwargs)]
    family = {"photo": "visual", "video": "visual", "document": "document", "audio": "audio"}
    families = {family.get(m) for m in methods}
    if len(families) == 1 and None not in families:
        media = []
        for index, ((attachment, path), method) in enumerate(zip(paths, methods, strict=True)):
            kind = {"photo": InputMediaPhoto, "video": InputMediaVideo,
                    "document": InputMediaDocument, "audio": InputMediaAudio}[method]
            extra = parse if index == 0 else {}
            media.append(kind(_input(path, attachment, opened, attach=True), **extra))
        return list(await bot.send_media_group(chat_id, media, **kwargs))  # type: ignore[arg-type]
    sent: list[Message] = []
    for index, ((attachment, path), method) in enumerate(zip(paths, methods, strict=True)):
        send = getattr(bot, f"send_{method}")
        sent.append(await send(chat_id, _input(path, attachment, opened),
                               **(parse if index == 0 else {}),
                               **kwargs))
    return sent
