"""Files on Matrix: through the homeserver's content repository (``mxc://``), with mautrix.

Intake: an ``m.image``/``m.file``/``m.audio``/``m.video`` event names its file by an
``mxc://`` URI; the bot downloads it with mautrix's ``download_media`` (the authenticated
``/_matrix/client/v1/media/download`` when the homeserver speaks Matrix 1.11, as Synapse
does; the old unauthenticated path otherwise) and hands it to the core's file store, which
strips image metadata (EXIF, GPS, XMP) before anything keeps it. A file larger than the
homeserver takes, or one it will not give, comes back unstored: a line names it.

Delivery: each stored file of a post is uploaded by the author's ghost (``upload_media``)
and sent as its own event of the matching msgtype; Matrix carries one file per event. The
homeserver says how large an upload may be (``m.upload.size`` from ``/media/config``).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
from mautrix.appservice import IntentAPI
from mautrix.errors import MatrixError
from mautrix.types import ContentURI

from bridgebot.adapters.matrix import PLATFORM
from bridgebot.core.attachments import MB, FileLimits
from bridgebot.core.models import Attachment
from bridgebot.core.ports import FilePort

log = logging.getLogger(__name__)

# Synapse's default ``max_upload_size`` (50M); the homeserver's own figure replaces it at start.
FILE_LIMITS = PLATFORM.file_limits or FileLimits(per_file=50 * MB, count=10)
MSGTYPES = ("m.image", "m.file", "m.audio", "m.video")
_EXTENSIONS = {"m.image": "jpg", "m.video": "mp4", "m.audio": "ogg", "m.file": "bin"}


def limits(upload_size: int | None) -> FileLimits:
    """What the homeserver takes (``m.upload.size``), else Synapse's default."""
    if upload_size and upload_size > 0:
        return FileLimits(per_file=upload_size, count=FILE_LIMITS.count)
    return FILE_LIMITS


def kind_of(msgtype: str, mime: str, content: dict[str, Any]) -> str:
    """The core's kind of file for a Matrix msgtype."""
    if msgtype == "m.image":
        return "animation" if mime == "image/gif" else "photo"
    if msgtype == "m.video":
        return "video"
    if msgtype == "m.audio":
        voice = "org.matrix.msc3245.voice" in content or "m.voice" in content
        return "voice" if voice else "audio"
    return "document"


def msgtype_of(attachment: Attachment) -> str:
    """The msgtype that shows a file as what it is (a photo inline, a voice note playable)."""
    kind = attachment.kind
    if kind in ("photo", "sticker", "animation") and attachment.mime_type.startswith("image/"):
        return "m.image"
    if kind in ("video", "video_note", "animation"):
        return "m.video"
    if kind in ("audio", "voice"):
        return "m.audio"
    return "m.file"


def caption_of(content: dict[str, Any]) -> str:
    """A media event's caption (Matrix 1.10: ``body`` differs from ``filename``)."""
    body = str(content.get("body") or "")
    name = content.get("filename")
    return body if name and body != name else ""


def described(content: dict[str, Any]) -> Attachment:
    """The file a media event names, unstored: its name, type and size as the event says."""
    msgtype = str(content.get("msgtype"))
    given = content.get("info")
    info: dict[str, Any] = given if isinstance(given, dict) else {}
    mime = str(info.get("mimetype") or "application/octet-stream").split(";")[0].strip()
    name = str(content.get("filename") or content.get("body") or "")
    name = name.strip().replace("/", "_")[:200] or f"file.{_EXTENSIONS.get(msgtype, 'bin')}"
    size = info.get("size")
    return Attachment(name, mime, size if isinstance(size, int) and size >= 0 else 0, "",
                      kind_of(msgtype, mime, content))


async def fetch(intent: IntentAPI, files: FilePort | None, content: dict[str, Any],
                file_limits: FileLimits) -> Attachment:
    """Download the event's file from the content repository and store it (metadata
    stripped by the store); unstored when it is larger than the homeserver takes, is
    encrypted (``file`` instead of ``url``), or cannot be fetched."""
    unstored = described(content)
    url = content.get("url")
    if files is None or not isinstance(url, str) or not url.startswith("mxc://"):
        return unstored
    if unstored.size > file_limits.per_file:
        return unstored
    try:
        data = await intent.download_media(ContentURI(url))
    except (MatrixError, aiohttp.ClientError, ValueError) as err:
        log.warning("matrix: could not download a %s file: %s", unstored.mime_type, err)
        return unstored
    if len(data) > file_limits.per_file:
        return Attachment(unstored.name, unstored.mime_type, len(data), "", unstored.kind)
    return await files.put(bytes(data), unstored.name, unstored.mime_type, unstored.kind)


def _image_size(path: Path) -> dict[str, int]:
    try:
        from PIL import Image

        with Image.open(path) as image:
            return {"w": image.width, "h": image.height}
    except Exception:  # not an image Pillow reads: the event goes without its size
        return {}


async def upload(intent: IntentAPI, attachment: Attachment, path: Path) -> dict[str, Any]:
    """Upload one stored file as ``intent`` and return the event content that shows it
    (no relation yet; the caller places it in the thread)."""
    data = await asyncio.to_thread(path.read_bytes)
    mxc = await intent.upload_media(data, mime_type=attachment.mime_type,
                                    filename=attachment.name, size=len(data))
    msgtype = msgtype_of(attachment)
    info: dict[str, Any] = {"mimetype": attachment.mime_type, "size": len(data)}
    if msgtype == "m.image":
        info.update(await asyncio.to_thread(_image_size, path))
    return {"msgtype": msgtype, "body": attachment.name, "filename": attachment.name,
            "url": str(mxc), "info": info, "m.mentions": {}}
