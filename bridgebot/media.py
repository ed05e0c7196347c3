"""Image metadata removal, before a file is relayed or stored.

People in these discussions may be at risk: a phone photo's EXIF holds the GPS position
where it was taken, the camera's serial number and the time; XMP and IPTC blocks can hold
names. Every image bridgebot keeps or passes on is rewritten from its pixels alone with
Pillow (the well-kept imaging library), for the formats below; the colour profile (ICC),
which says nothing about a person, is kept so colours stay right. The EXIF orientation is
applied to the pixels first, so a portrait photo stays upright without its tag.

A JPEG, PNG or WebP sent with another type (``application/octet-stream``, a wrong one) is
recognised by its first bytes and stripped all the same (a TIFF only by its type). Other
files (PDF, office documents, audio, video, GIF, HEIC) keep whatever metadata they carry:
README says so.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

# A file being downloaded from a platform is written to the system's temporary folder (a
# local disk: the files folder may be a network mount) under this prefix, then moved into
# the files folder (FileStore.put). What a crash leaves there, perhaps a photo with its GPS
# position, is swept with the files folder's tmp/ (store/files.py).
DOWNLOAD_PREFIX = "bridgebot-download-"


def download_target() -> tuple[int, Path]:
    """A new empty file for one download: its descriptor (open for writing) and path."""
    handle, name = tempfile.mkstemp(prefix=DOWNLOAD_PREFIX)
    return handle, Path(name)

# MIME type -> Pillow format name: the images whose metadata is removed.
STRIPPED = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/tiff": "TIFF",
}


# The first bytes of JPEG, PNG (and WebP, below): a phone photo sent "as a file" may come
# with a generic type (application/octet-stream) or a wrong one, and still carries its GPS.
# Not TIFF's: camera RAW files (DNG, NEF, CR2) start the same, and rewriting one from its
# preview would lose the photo.
_SIGNATURES = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"))


def image_format(path: Path, mime_type: str) -> str | None:
    """The Pillow format whose metadata is removed from this file: by its type, else by
    its first bytes (what it is, whatever the sender's app called it); None for others."""
    fmt = STRIPPED.get(mime_type.lower())
    if fmt is not None:
        return fmt
    with path.open("rb") as handle:
        head = handle.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)


def strip_metadata(path: Path, mime_type: str) -> bool:
    """Rewrite the image at ``path`` without EXIF, GPS, XMP or IPTC; True if it was rewritten.

    A file Pillow cannot read as the type it claims (or its first bytes suggest) is left as
    it is (it is not shown as an image anywhere either); runs in a worker thread (see
    ``FileStore.put``).
    """
    fmt = image_format(path, mime_type)
    if fmt is None:
        return False
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            frames = getattr(opened, "n_frames", 1)
            icc = opened.info.get("icc_profile")
            if frames > 1:  # an animated WebP: every frame, without the metadata chunks
                images = []
                for index in range(frames):
                    opened.seek(index)
                    images.append(opened.copy())
                clean, rest = images[0], images[1:]
                extra: dict[str, object] = {"save_all": True, "append_images": rest,
                                            "duration": opened.info.get("duration", 100),
                                            "loop": opened.info.get("loop", 0)}
            else:
                upright = ImageOps.exif_transpose(opened)
                clean = Image.new(upright.mode, upright.size)
                clean.paste(upright)  # the pixels only: no info, exif or xmp
                palette = upright.getpalette() if upright.mode == "P" else None
                if palette is not None:
                    clean.putpalette(palette)
                extra = {}
    except (UnidentifiedImageError, OSError, ValueError) as err:
        log.info("a file that says it is %s is not a readable image (%s); kept as it is",
                 mime_type, type(err).__name__)
        return False
    if icc:
        extra["icc_profile"] = icc
    if fmt == "JPEG":
        if clean.mode not in ("RGB", "L", "CMYK"):
            clean = clean.convert("RGB")
        extra.update(quality=92, optimize=True)
    elif fmt == "TIFF":
        extra["compression"] = "tiff_deflate"
    tmp = path.with_name(path.name + ".clean")
    clean.save(tmp, fmt, **extra)
    tmp.replace(path)
    return True
