"""Real image files, good and hostile, made in memory."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode a PIL image in a format."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def sample(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    """A colourful deterministic RGB image."""
    img = Image.new("RGB", (width, height))
    img.putdata(
        [
            ((x * 7 + seed * 31) % 256, (y * 5 + seed * 17) % 256, (x * y + seed) % 256)
            for y in range(height)
            for x in range(width)
        ]
    )
    return img


def photo(width: int = 256, height: int = 192, seed: int = 0) -> Image.Image:
    """A deterministic picture with structure (a gradient under random shapes): unlike
    :func:`sample`, whose seeds differ only in colour, two seeds give unrelated PDQ hashes,
    and its PDQ quality is well above 50."""
    import random

    from PIL import ImageDraw

    rng = random.Random(seed)
    img = sample(width, height, seed)
    draw = ImageDraw.Draw(img)
    for _ in range(10):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        box = [x0, y0, x0 + rng.randrange(20, width // 2), y0 + rng.randrange(20, height // 2)]
        fill = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    return img


def jpeg(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A real JPEG file."""
    return encode(sample(width, height, seed), "JPEG", quality=90)


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A real PNG file."""
    return encode(sample(width, height, seed), "PNG")


def truncated_jpeg() -> bytes:
    """A JPEG cut off in the middle of its scan data."""
    data = jpeg(256, 256, seed=3)
    return data[: len(data) // 2]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid 1-bit PNG of width x height black pixels that compresses to a few tens of kB."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    parts = [comp.compress(row) for _ in range(height)]
    idat = b"".join(parts) + comp.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def animation(
    width: int = 64,
    height: int = 48,
    seed: int = 0,
    frames: int = 6,
    fmt: str = "GIF",
    duration: int | list[int] = 100,
) -> bytes:
    """An animation whose first frame is a plain colour and whose later frames are
    :func:`photo` pictures that differ from one another (GIF, WEBP or PNG: APNG)."""
    first = Image.new("RGB", (width, height), (30 + seed % 200, 120, 200))
    rest = [photo(width, height, seed=seed * 100 + n) for n in range(1, frames)]
    return encode(first, fmt, save_all=True, append_images=rest, duration=duration, loop=0)
