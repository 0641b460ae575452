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


def _decode_first_frame(img: Image.Image, *, verify_only: bool = False) -> Image.Image:
    """Decode the first frame fully; truncated or corrupt data raises ImageRejected.

    ``verify_only``: JPEGs are decoded at 1/8 scale (every byte of the scan is still read, so
    truncation and corruption still show, at a fraction of the cost).
    """
    try:
        img.seek(0)
        if verify_only and img.format == "JPEG":
            img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
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


def verify_image(img: Image.Image, data: bytes) -> ImageInfo:
    """Decode the first frame of an image from :func:`open_image` (JPEG at 1/8 scale) and
    describe it; corrupt or truncated data raises ImageRejected."""
    width, height, fmt = img.width, img.height, img.format
    _decode_first_frame(img, verify_only=True)
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
