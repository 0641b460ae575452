"""Image intake rules without a server: a JPEG's structure is checked, not its scan decoded;
every other format is decoded; the worker's decode is the final word."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from moderation.submissions.images import (
    MAX_JPEG_SCANS,
    ImageRejected,
    decode_for_model,
    inspect_image,
)
from tests.support import hostile, images

LIMITS = {"max_bytes": 50 * 1024 * 1024, "max_pixels": 40_000_000}


def _with_app1(jpeg: bytes, payload: bytes) -> bytes:
    """``jpeg`` with an APP1 segment holding ``payload`` right after SOI."""
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def _rejected(data: bytes) -> str:
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, **LIMITS)
    return caught.value.kind


def test_a_whole_jpeg_is_described_without_decoding_its_scan() -> None:
    data = images.jpeg(320, 200, seed=1)
    info = inspect_image(data, **LIMITS)
    assert (info.width, info.height, info.format, info.size_bytes) == (320, 200, "JPEG", len(data))


def test_a_jpeg_cut_anywhere_in_its_scan_is_refused() -> None:
    data = images.jpeg(256, 256, seed=3)
    scan = data.index(b"\xff\xda")
    for cut in (scan + 20, (scan + len(data)) // 2, len(data) - 1):
        assert _rejected(data[:cut]) == "invalid", cut


def test_an_exif_thumbnail_end_marker_does_not_hide_a_truncated_scan() -> None:
    """The thumbnail inside APP1 is a whole JPEG (its own scan and end marker); the segments
    are walked by length, so only the main scan's end counts."""
    thumbnail = images.jpeg(16, 16, seed=2)
    data = _with_app1(images.jpeg(256, 256, seed=3), b"Exif\x00\x00" + thumbnail)
    assert inspect_image(data, **LIMITS).width == 256
    assert _rejected(data[: len(data) - 200]) == "invalid"


def test_data_after_the_end_marker_and_progressive_scans_are_accepted() -> None:
    trailer = images.jpeg(64, 64, seed=4) + b"motion photo trailer \x00\x01" * 50
    assert inspect_image(trailer, **LIMITS).width == 64
    buffer = io.BytesIO()
    images.sample(200, 100, 5).save(buffer, "JPEG", progressive=True)
    assert inspect_image(buffer.getvalue(), **LIMITS).height == 100


def test_a_corrupt_scan_passes_intake_and_fails_the_decode_for_the_model() -> None:
    data = hostile.jpeg_with_corrupt_scan()
    assert inspect_image(data, **LIMITS).format == "JPEG"
    with pytest.raises(ImageRejected, match="corrupt or truncated"):
        decode_for_model(data, max_pixels=LIMITS["max_pixels"])


def test_other_formats_are_decoded_at_intake() -> None:
    assert _rejected(hostile.corrupt_png()) == "invalid"
    assert _rejected(hostile.truncated_png()) == "invalid"
    gif = io.BytesIO()
    images.sample(30, 20, 6).save(gif, "GIF")
    assert inspect_image(gif.getvalue(), **LIMITS).format == "GIF"
    assert decode_for_model(gif.getvalue(), max_pixels=1000).mode == "RGB"
    assert isinstance(decode_for_model(images.png(8, 8), max_pixels=1000), Image.Image)


def test_a_progressive_jpeg_over_the_scan_limit_is_refused() -> None:
    assert MAX_JPEG_SCANS < 300
    assert "scans refused" in _rejected_message(hostile.jpeg_scan_bomb(300))
    assert inspect_image(hostile.jpeg_scan_bomb(MAX_JPEG_SCANS - 20), **LIMITS).format == "JPEG"


def _rejected_message(data: bytes) -> str:
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, **LIMITS)
    return caught.value.message
