"""Small images for the media tests, made with Pillow: a photo that carries GPS in its EXIF,
as a phone writes it, and plain ones."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825
SERIAL = 0xA431  # BodySerialNumber


def jpeg_with_gps(color: tuple[int, int, int] = (200, 80, 40), size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG whose EXIF says where it was taken (GPS) and by which camera (serial)."""
    image = Image.new("RGB", size, color)
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[SERIAL] = "SN-1234567"
    exif[GPS_IFD] = {1: "N", 2: (36.0, 48.0, 30.0), 3: "E", 4: (10.0, 10.0, 5.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png(color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(out, "PNG")
    return out.getvalue()


def metadata_of(data: bytes) -> dict[int, object]:
    """The EXIF tags an image carries (GPS included), as a reader would find them."""
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        found: dict[int, object] = dict(exif)
        gps = exif.get_ifd(GPS_IFD)
        if gps:
            found[GPS_IFD] = dict(gps)
        if "xmp" in image.info or "XML:com.adobe.xmp" in image.info:
            found[-1] = "xmp"
        return found
