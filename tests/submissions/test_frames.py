"""Frame selection of animated images, and the caps that keep hostile ones cheap."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from PIL import Image

from moderation.submissions.frames import Seen, choose, frame_png, select_frames, thumbnail
from moderation.submissions.images import AnimationLimits, ImageRejected, inspect_image
from tests.support import hostile, images

LIMITS = AnimationLimits()
MAX_PIXELS = 40_000_000


def _seen(colours: list[int], durations: list[int] | None = None) -> list[Seen]:
    """Frames of plain grey levels, shown ``durations`` ms each (100 by default)."""
    durations = durations or [100] * len(colours)
    seen, offset = [], 0
    for index, (grey, ms) in enumerate(zip(colours, durations, strict=True)):
        seen.append(Seen(index, offset, ms, thumbnail(Image.new("L", (32, 32), grey))))
        offset += ms
    return seen


def test_the_first_frame_and_the_changes_are_chosen_repeats_are_not() -> None:
    # a plain first frame, then a long still stretch, then a cut to something else
    seen = _seen([10] * 20 + [200] * 20 + [90] * 5)
    assert choose(seen, 8) == [0, 20, 40]  # each distinct picture once, none twice


def test_at_most_max_frames_and_evenly_spaced_fill_covers_a_slow_fade() -> None:
    fade = _seen(list(range(0, 250, 2)))  # 125 frames, each a tiny step from the last
    chosen = choose(fade, 8)
    assert len(chosen) == 8 and chosen[0] == 0
    gaps = [b - a for a, b in pairwise(chosen)]
    assert max(gaps) - min(gaps) <= 9  # spread over the whole animation, not bunched


def test_a_frame_shown_under_20_ms_counts_for_little() -> None:
    # two changes of the same size; with one slot left, the long frame wins over the flash
    seen = _seen([10, 200, 10, 10, 120, 120], [100, 10, 100, 100, 100, 100])
    assert choose(seen, 2) == [0, 4]
    assert 1 in choose(seen, 3)  # still judged when there is room


def test_a_still_image_has_no_frames_to_select() -> None:
    assert select_frames(images.png(40, 30), max_pixels=MAX_PIXELS, limits=LIMITS) is None
    gif = images.encode(images.sample(40, 30), "GIF")
    assert select_frames(gif, max_pixels=MAX_PIXELS, limits=LIMITS) is None
    assert inspect_image(gif, max_bytes=10**6, max_pixels=MAX_PIXELS).frames == 1


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_an_animation_gets_its_first_frame_and_the_changed_ones(fmt: str) -> None:
    data = images.animation(64, 48, seed=3, frames=12, fmt=fmt, duration=80)
    assert inspect_image(data, max_bytes=10**6, max_pixels=MAX_PIXELS).frames == 12
    frames = select_frames(data, max_pixels=MAX_PIXELS, limits=LIMITS)
    assert frames is not None and 2 <= len(frames) <= LIMITS.max_frames
    assert frames[0].index == 0 and frames[0].offset_ms == 0
    assert [f.offset_ms for f in frames] == [80 * f.index for f in frames]
    assert all(f.image.mode == "RGB" and f.image.size == (64, 48) for f in frames)
    assert len({f.sha256 for f in frames}) == len(frames)  # each a different picture


def test_max_frames_is_a_setting() -> None:
    data = images.animation(64, 48, seed=4, frames=20)
    frames = select_frames(data, max_pixels=MAX_PIXELS, limits=AnimationLimits(max_frames=3))
    assert frames is not None and len(frames) == 3


def test_the_same_frame_has_the_same_pixel_hash_in_another_animation() -> None:
    one = select_frames(images.animation(seed=5, frames=3), max_pixels=MAX_PIXELS, limits=LIMITS)
    longer = select_frames(images.animation(seed=5, frames=4), max_pixels=MAX_PIXELS, limits=LIMITS)
    assert one is not None and longer is not None
    assert {f.sha256 for f in one} <= {f.sha256 for f in longer}


def _refused(data: bytes, limits: AnimationLimits = LIMITS) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, max_bytes=20 * 1024 * 1024, max_pixels=MAX_PIXELS, limits=limits)
    assert caught.value.kind == "too_large"
    with pytest.raises(ImageRejected):  # the worker's own check refuses it as well
        select_frames(data, max_pixels=MAX_PIXELS, limits=limits)
    return caught.value.message, time.monotonic() - started


def test_a_10000_frame_gif_is_refused_quickly_without_decoding_it() -> None:
    message, elapsed = _refused(hostile.many_frame_gif(10_000))
    assert "more than 1000 frames" in message and "MODERATION_MAX_ANIMATION_FRAMES" in message
    assert elapsed < 0.5
    # the walk stops at the cap: a file ten times longer costs the same
    _, longer = _refused(hostile.many_frame_gif(100_000))
    assert longer < 0.5


def test_frames_adding_up_past_the_pixel_cap_are_refused() -> None:
    message, elapsed = _refused(hostile.gif_over_pixel_cap())
    assert "208000000 pixels across its 13 frames" in message
    assert "MODERATION_MAX_ANIMATION_PIXELS" in message and elapsed < 0.5


def test_decoding_past_the_time_cap_stops_with_a_clear_error() -> None:
    data = images.animation(64, 48, seed=6, frames=30)
    limits = AnimationLimits(decode_timeout_s=1e-9)
    with pytest.raises(ImageRejected, match="MODERATION_ANIMATION_DECODE_TIMEOUT_S"):
        select_frames(data, max_pixels=MAX_PIXELS, limits=limits)


def test_a_frame_as_png_for_the_console() -> None:
    data = images.animation(64, 48, seed=7, frames=4)
    frames = select_frames(data, max_pixels=MAX_PIXELS, limits=LIMITS)
    assert frames is not None
    png = frame_png(data, frames[-1].index, max_pixels=MAX_PIXELS, limits=LIMITS)
    assert png.startswith(b"\x89PNG")
    with pytest.raises(ImageRejected, match="no frame 9"):
        frame_png(data, 9, max_pixels=MAX_PIXELS, limits=LIMITS)


def test_a_frames_pdq_is_that_of_a_still_image_of_its_pixels() -> None:
    from moderation.banks.hashing import hash_frame, hash_image

    for seed in range(3):
        picture = images.photo(200, 150, seed=seed)
        still = hash_image(images.encode(picture, "PNG"))
        frame = hash_frame(picture)
        assert (frame.pdq, frame.quality) == (still.pdq, still.quality)
        assert frame.md5 == frame.sha256 == ""  # a frame has no file to match exactly
