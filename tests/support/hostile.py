"""Hostile upload files, each generated in code (no binaries in the repository).

``CASES`` pairs each file with the status the API must answer: bombs 413, broken files 422,
formats we do not accept 415, odd but valid images 202 (the worker normalises them to RGB), and
a JPEG whose structure is whole but whose scan does not decode 202 (the worker fails it).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from tests.support import images
from tests.support.images import encode, png_bomb, sample, truncated_jpeg


def _patched(data: bytes, offset: int, field: bytes) -> bytes:
    return data[:offset] + field + data[offset + len(field) :]


def gif_bomb() -> bytes:
    """A 1x1 GIF whose logical screen and image descriptor claim 65535x65535 pixels."""
    data = images.encode(Image.new("P", (1, 1)), "GIF")
    huge = struct.pack("<HH", 65535, 65535)
    data = _patched(data, 6, huge)  # logical screen width/height
    descriptor = data.index(b"\x2c")  # image separator; its width/height follow left/top
    return _patched(data, descriptor + 5, huge)


def webp_bomb() -> bytes:
    """A lossless WebP whose VP8L header claims 16384x16384 pixels (268 M, over the limit)."""
    data = encode(Image.new("RGB", (1, 1)), "WEBP", lossless=True)
    header = data.index(b"VP8L") + 8 + 1  # chunk tag, chunk size, then the 0x2f signature
    (bits,) = struct.unpack("<I", data[header : header + 4])
    size_bits = 16383 | (16383 << 14)  # width-1 and height-1, 14 bits each
    return _patched(data, header, struct.pack("<I", (bits & ~((1 << 28) - 1)) | size_bits))


def truncated_png() -> bytes:
    """A PNG cut off in the middle of its IDAT data."""
    data = images.png(256, 256, seed=5)
    return data[: len(data) // 2]


def corrupt_jpeg() -> bytes:
    """A JPEG whose Huffman tables are overwritten with 0xFF garbage: no decoder identifies
    it, so it is refused as an unsupported type."""
    data = images.jpeg(128, 128, seed=6)
    dht = data.index(b"\xff\xc4") + 4
    return data[:dht] + b"\xff" * 64 + data[dht + 64 :]


def corrupt_png() -> bytes:
    """A PNG whose compressed IDAT payload is garbage (chunk lengths and CRC recomputed)."""
    data = images.png(64, 64, seed=7)
    start = data.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", data[start : start + 4])
    chunk = images._chunk(b"IDAT", b"\x78\x9c" + b"\xa5" * (length - 2))  # zlib header, junk
    return data[:start] + chunk + data[start + 12 + length :]


def jpeg_with_corrupt_scan() -> bytes:
    """A JPEG with a frame header (SOF0) in the middle of its scan data: its structure is whole,
    so the API accepts it, but it does not decode, so the worker fails its submission."""
    data = images.jpeg(128, 128, seed=6)
    middle = (data.index(b"\xff\xda") + len(data)) // 2
    bogus = b"\xff\xc0\x00\x04\x00\x00"
    return data[:middle] + bogus + data[middle + len(bogus) :]


def jpeg_scan_bomb(repeats: int = 300) -> bytes:
    """A progressive JPEG whose first scan is repeated ``repeats`` times (libjpeg decodes them
    all, each a pass over the whole image): over the scan limit."""
    buffer = io.BytesIO()
    sample(64, 64, seed=11).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    first = data.index(b"\xff\xda")
    scan = data[
        first : data.index(b"\xff", first + 2 + int.from_bytes(data[first + 2 : first + 4]))
    ]
    return data[:-2] + scan * repeats + data[-2:]


def png_named_jpeg() -> bytes:
    """A real PNG (sent as ``x.jpg``, image/jpeg): the content decides, not the name."""
    return images.png(40, 40, seed=8)


def jpeg_with_png_magic() -> bytes:
    """A JPEG whose first 8 bytes are replaced by the PNG signature: neither format."""
    return b"\x89PNG\r\n\x1a\n" + images.jpeg(40, 40, seed=9)[8:]


def svg() -> bytes:
    """An SVG document (with a script: it must never be treated as an image)."""
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b"<script>alert(1)</script><rect width='10' height='10'/></svg>"
    )


def pdf() -> bytes:
    """A one-page PDF made by Pillow."""
    return encode(sample(16, 16), "PDF")


def eps() -> bytes:
    """An Encapsulated PostScript file made by Pillow."""
    return encode(sample(16, 16), "EPS")


def tiff() -> bytes:
    """A valid TIFF (not an allowed type)."""
    return encode(sample(16, 16), "TIFF")


def ico() -> bytes:
    """A valid Windows icon (not an allowed type)."""
    return encode(sample(16, 16), "ICO")


def palette_png() -> bytes:
    """A palette (mode P) PNG with a transparent colour."""
    return encode(sample(32, 32).quantize(16), "PNG", transparency=0)


def cmyk_jpeg() -> bytes:
    """A CMYK JPEG."""
    return encode(sample(32, 32).convert("CMYK"), "JPEG")


def sixteen_bit_png() -> bytes:
    """A 16-bit greyscale PNG (mode I;16)."""
    return encode(sample(32, 32).convert("L").convert("I;16"), "PNG")


def alpha_png() -> bytes:
    """An RGBA PNG, half transparent."""
    img = sample(32, 32).convert("RGBA")
    img.putalpha(128)
    return encode(img, "PNG")


def many_frame_gif(frames: int = 10_000, width: int = 1, height: int = 1) -> bytes:
    """A GIF of ``width`` x ``height`` with ``frames`` 1x1 frames, written by hand (Pillow
    would merge equal frames); over the animation frame cap by default."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0)
    header = b"GIF89a" + screen + b"\x00\x00\x00\xff\xff\xff"
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    frame = (
        b"\x21\xf9\x04\x00\x01\x00\x00\x00"  # graphic control: 10 ms
        + b"\x2c"
        + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        + b"\x02\x02\x44\x01\x00"  # LZW: clear, colour 0, end
    )
    return header + loop + frame * frames + b"\x3b"


def gif_over_pixel_cap() -> bytes:
    """A 4000x4000 GIF of 13 tiny frames: each decodes to the whole 16 MP canvas, 208 M pixels
    across them, over the default animation pixel cap (200 M) though each frame is under the
    image pixel limit."""
    return many_frame_gif(13, 4000, 4000)


def huge_exif_png(megabytes: int = 8) -> bytes:
    """A small PNG carrying an eXIf chunk of ``megabytes`` MB (one huge UserComment)."""
    exif = Image.Exif()
    exif[0x9286] = b"ASCII\x00\x00\x00" + b"A" * (megabytes * 1024 * 1024)
    return encode(sample(16, 16), "PNG", exif=exif.tobytes())


def empty() -> bytes:
    """Zero bytes."""
    return b""


def over_the_limit(limit: int) -> bytes:
    """A real PNG padded with trailing bytes to ``limit`` + 1 bytes."""
    data = images.png(16, 16, seed=10)
    return data + b"\x00" * (limit + 1 - len(data))


@dataclass(frozen=True)
class Hostile:
    """One hostile upload, the status the API must answer and, when it accepts it, how the
    worker must end it."""

    name: str
    make: Callable[[], bytes]
    status: int
    filename: str = "upload.png"
    content_type: str = "image/png"
    final: str = "decided"


CASES = (
    Hostile("png bomb", png_bomb, 413),
    Hostile("gif bomb", gif_bomb, 413, "b.gif", "image/gif"),
    Hostile("webp bomb", webp_bomb, 413, "b.webp", "image/webp"),
    Hostile("truncated jpeg", truncated_jpeg, 422, "t.jpg", "image/jpeg"),
    Hostile("truncated png", truncated_png, 422),
    Hostile("corrupt jpeg", corrupt_jpeg, 415, "c.jpg", "image/jpeg"),
    Hostile("corrupt png", corrupt_png, 422),
    Hostile("corrupt jpeg scan", jpeg_with_corrupt_scan, 202, "s.jpg", "image/jpeg", "failed"),
    Hostile("jpeg scan bomb", jpeg_scan_bomb, 422, "b.jpg", "image/jpeg"),
    Hostile("png named jpeg", png_named_jpeg, 202, "x.jpg", "image/jpeg"),
    Hostile("jpeg with png magic", jpeg_with_png_magic, 415),
    Hostile("svg", svg, 415, "x.svg", "image/svg+xml"),
    Hostile("pdf", pdf, 415, "x.pdf", "application/pdf"),
    Hostile("eps", eps, 415, "x.eps", "application/postscript"),
    Hostile("tiff", tiff, 415, "x.tiff", "image/tiff"),
    Hostile("ico", ico, 415, "x.ico", "image/x-icon"),
    Hostile("palette png", palette_png, 202),
    Hostile("cmyk jpeg", cmyk_jpeg, 202, "c.jpg", "image/jpeg"),
    Hostile("16-bit png", sixteen_bit_png, 202),
    Hostile("alpha png", alpha_png, 202),
    Hostile("10,000-frame gif", many_frame_gif, 413, "f.gif", "image/gif"),
    Hostile("gif past the pixel cap", gif_over_pixel_cap, 413, "p.gif", "image/gif"),
    Hostile("huge exif", huge_exif_png, 202),
    Hostile("0 bytes", empty, 422),
)
