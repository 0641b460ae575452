"""Image intake rules: what we accept, how we measure it, how the model sees it."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    from moderation.config import Settings

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
_ROTATED_ORIENTATIONS = {5, 6, 7, 8}
# libjpeg's own progressive script writes 10 scans; encoders that tune it stay in the tens
MAX_JPEG_SCANS = 256
_EXIF_ORIENTATION = 0x0112
_ANIMATED_FORMATS = ("GIF", "WEBP", "PNG")  # PNG: APNG


@dataclass(frozen=True)
class AnimationLimits:
    """Caps on an animated image (GIF, WebP, APNG): frames judged, frames and pixels decoded
    across frames, decoding time (the ``MODERATION_*`` settings of the same names)."""

    max_frames: int = 8
    max_animation_frames: int = 1000
    max_animation_pixels: int = 200_000_000
    decode_timeout_s: float = 10.0


def animation_limits(settings: Settings) -> AnimationLimits:
    """The animation caps the settings give."""
    return AnimationLimits(
        max_frames=settings.max_frames,
        max_animation_frames=settings.max_animation_frames,
        max_animation_pixels=settings.max_animation_pixels,
        decode_timeout_s=settings.animation_decode_timeout_s,
    )


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
    frames: int = 1  # more than one: an animation


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


def _gif_frame_count(data: bytes, limit: int) -> int:
    """The image descriptors of a GIF, counted by walking its blocks (no pixel is decoded;
    the walk stops at ``limit + 1``, so a 10,000-frame file costs what ``limit`` frames do)."""
    pos, frames = 13, 0  # after the header and the logical screen descriptor
    if len(data) > 10 and data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)  # global colour table
    while pos < len(data) and frames <= limit:
        block = data[pos]
        if block == 0x2C:  # image descriptor: 9 bytes, a local colour table, LZW code size
            frames += 1
            packed = data[pos + 9] if pos + 9 < len(data) else 0
            pos += 10 + ((3 << ((packed & 7) + 1)) if packed & 0x80 else 0) + 1
        elif block == 0x21:  # extension: its label, then sub-blocks
            pos += 2
        else:  # the trailer, or garbage Pillow stops at too
            break
        while pos < len(data) and data[pos]:  # sub-blocks, to the empty one
            pos += data[pos] + 1
        pos += 1
    return max(frames, 1)


def frame_count(img: Image.Image, data: bytes, limit: int) -> int:
    """How many frames ``img`` has (at most ``limit + 1``), decoding none: a GIF's blocks are
    walked, WebP and APNG declare theirs."""
    if img.format not in _ANIMATED_FORMATS:
        return 1
    if img.format == "GIF":
        return _gif_frame_count(data, limit)
    return min(int(getattr(img, "n_frames", 1)), limit + 1)


def check_animation(img: Image.Image, data: bytes, limits: AnimationLimits) -> int:
    """The frame count of ``img``; an animation over the frame or the decoded-pixel cap
    raises ImageRejected (``too_large``)."""
    frames = frame_count(img, data, limits.max_animation_frames)
    if frames > limits.max_animation_frames:
        raise ImageRejected(
            "too_large",
            f"animation has more than {limits.max_animation_frames} frames "
            "(MODERATION_MAX_ANIMATION_FRAMES)",
        )
    decoded = img.width * img.height * frames  # each frame decodes to the whole canvas
    if frames > 1 and decoded > limits.max_animation_pixels:
        raise ImageRejected(
            "too_large",
            f"animation decodes to {decoded} pixels across its {frames} frames; the limit is "
            f"{limits.max_animation_pixels} (MODERATION_MAX_ANIMATION_PIXELS)",
        )
    return frames


def verify_image(
    img: Image.Image, data: bytes, limits: AnimationLimits = AnimationLimits()
) -> ImageInfo:
    """Check an image from :func:`open_image` beyond its header (a JPEG's structure, the first
    frame of any other format decoded, an animation's caps) and describe it; corrupt or
    truncated data raises ImageRejected."""
    width, height, fmt = img.width, img.height, img.format
    frames = 1
    if decodes_to_verify(img):
        frames = check_animation(img, data, limits)
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
        frames=frames,
    )


def inspect_image(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int,
    limits: AnimationLimits = AnimationLimits(),
) -> ImageInfo:
    """Validate an upload fully (type, size, pixels, decodability) and describe it."""
    img = open_image(data, max_bytes=max_bytes, max_pixels=max_pixels)
    return verify_image(img, data, limits)


def open_for_decoding(data: bytes, *, max_pixels: int) -> Image.Image:
    """The image, its header checked (type, pixel count), nothing decoded yet."""
    return _open(data, max_pixels)


def decode_for_model(data: bytes, *, max_pixels: int) -> Image.Image:
    """The first frame, EXIF orientation applied, as RGB (transparency flattened onto white)."""
    return model_rgb(_decode_first_frame(_open(data, max_pixels)))


def model_rgb(decoded: Image.Image) -> Image.Image:
    """A decoded frame as the model sees it: EXIF orientation applied, RGB, transparency
    flattened onto white."""
    img = ImageOps.exif_transpose(decoded)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")
