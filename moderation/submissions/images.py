"""Image intake rules: what we accept, how we measure it, how the model sees it."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
_ROTATED_ORIENTATIONS = {5, 6, 7, 8}
# libjpeg's own progressive script writes 10 scans; encoders that tune it stay in the tens
MAX_JPEG_SCANS = 256
_EXIF_ORIENTATION = 0x0112


class ImageRejected(Exception):
    """An upload that is not an image we accept; ``kind`` says why."""

    def __init__(self, kind: Literal["too_large", "unsupported", "invalid"], message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    """What intake learned about an accepted image (dimensions after EXIF orientation)."""

    sha256: str
    size_bytes: int
    width: int
    height: int
    format: str


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open an image lazily and check type and pixel count before decoding anything."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            "unsupported", f"not an allowed image type (allowed: {', '.join(ALLOWED_FORMATS)})"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too_large", f"image has too many pixels: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected("invalid", f"corrupt image header: {exc}") from exc
    width, height = img.size
    if width * height > max_pixels:
        raise ImageRejected(
            "too_large", f"image is {width}x{height} pixels; the limit is {max_pixels} pixels"
        )
    if width < 1 or height < 1:
        raise ImageRejected("invalid", "image has no pixels")
    return img


def _decode_first_frame(img: Image.Image) -> Image.Image:
    """Decode the first frame fully; truncated or corrupt data raises ImageRejected."""
    try:
        img.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("invalid", f"corrupt or truncated image: {exc}") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too_large", f"image has too many pixels: {exc}") from exc
    return img


def open_image(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Check size, type and pixel count from the header, decoding nothing (cheap at any
    size); :func:`verify_image` does the rest."""
    if not data:
        raise ImageRejected("invalid", "the image file is empty")
    if len(data) > max_bytes:
        raise ImageRejected("too_large", f"image is {len(data)} bytes; the limit is {max_bytes}")
    return _open(data, max_pixels)


def _jpeg_scan_start(data: bytes) -> int:
    """Offset of a JPEG's first entropy-coded scan: the segments from SOI are walked by their
    lengths (an EXIF thumbnail is a whole JPEG inside APP1, so searching for markers would
    find its scan and its end instead)."""
    pos = 2  # after SOI
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            break
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
        else:
            end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker == 0xDA:  # start of scan
                return end
            pos = end
    raise ImageRejected("invalid", "corrupt JPEG: its segments do not reach a scan")


def _check_jpeg_structure(img: Image.Image, data: bytes) -> None:
    """A JPEG whose segments lead to a scan and whose data after it holds an end-of-image
    marker: what truncation breaks; a progressive one with at most ``MAX_JPEG_SCANS`` scans.
    The scan itself is not decoded: that costs API CPU on every upload, libjpeg
    passes most corrupt scan data anyway, and the worker decodes every image before the model
    sees it (a broken one ends ``failed``, with the ``moderation.failed`` event)."""
    scan = _jpeg_scan_start(data)
    if data.rfind(b"\xff\xd9", scan) < 0:  # from the end: it ends there
        raise ImageRejected("invalid", "corrupt or truncated image: the JPEG has no end marker")
    # each scan of a progressive JPEG is a pass over the whole image: thousands of tiny scans
    # (a "scan bomb") would keep a worker decoding for minutes. 0xFF in scan data is always
    # followed by 0x00 or a restart marker, so every FF DA after the first scan starts one.
    if img.info.get("progressive") and data.count(b"\xff\xda", scan) >= MAX_JPEG_SCANS:
        raise ImageRejected(
            "invalid", f"progressive JPEG with more than {MAX_JPEG_SCANS} scans refused"
        )


def decodes_to_verify(img: Image.Image) -> bool:
    """Whether :func:`verify_image` decodes pixels (every format but JPEG), as opposed to
    checking structure only (JPEG: microseconds at any size)."""
    return img.format != "JPEG"


def verify_image(img: Image.Image, data: bytes) -> ImageInfo:
    """Check an image from :func:`open_image` beyond its header (a JPEG's structure, the first
    frame of any other format decoded) and describe it; corrupt or truncated data raises
    ImageRejected."""
    width, height, fmt = img.width, img.height, img.format
    if decodes_to_verify(img):
        _decode_first_frame(img)
    else:
        _check_jpeg_structure(img, data)
    if img.getexif().get(_EXIF_ORIENTATION) in _ROTATED_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        width=width,
        height=height,
        format=str(fmt),
    )


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Validate an upload fully (type, size, pixels, decodability) and describe it."""
    return verify_image(open_image(data, max_bytes=max_bytes, max_pixels=max_pixels), data)


def decode_for_model(data: bytes, *, max_pixels: int) -> Image.Image:
    """The first frame, EXIF orientation applied, as RGB (transparency flattened onto white)."""
    img = _decode_first_frame(_open(data, max_pixels))
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")
