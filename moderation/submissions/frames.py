"""The frames of an animated image that the model judges: the first, the frames where the
picture changes, then evenly spaced ones, up to ``max_frames``.

Two passes over the animation, within its caps (:class:`AnimationLimits`): the first decodes
every frame once to a 16x16 grayscale thumbnail (frames are composited in order, so there is
no cheaper way to see frame k), the second decodes again up to the last frame chosen and keeps
only the chosen ones, so memory holds ``max_frames`` frames whatever the length. The frame and
pixel caps are checked before anything is decoded; the time cap stops either pass."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from PIL import Image, ImageChops, ImageStat

from moderation.submissions.images import (
    AnimationLimits,
    ImageRejected,
    check_animation,
    model_rgb,
    open_for_decoding,
)

THUMB = (16, 16)
SHORT_MS = 20  # a frame shown for less counts for little (browsers barely show it)
SHORT_WEIGHT = 0.1
CHANGE_AT = 0.04  # mean absolute difference (0-1) from the previous frame: the picture changed
SAME_BELOW = 0.01  # this close to a frame already chosen: nothing new to judge


@dataclass(frozen=True)
class Frame:
    """A chosen frame: its place in the animation and its pixels as the model sees them."""

    index: int
    offset_ms: int  # when it is first shown
    image: Image.Image  # RGB
    sha256: str  # of its decoded pixels (the frame verdict cache keys on it)


@dataclass(frozen=True)
class Seen:
    """A frame as the first pass saw it."""

    index: int
    offset_ms: int
    duration_ms: int
    thumb: Image.Image  # 16x16 grayscale

    @property
    def weight(self) -> float:
        """How much the frame counts: little when it is shown for under 20 ms."""
        return SHORT_WEIGHT if self.duration_ms < SHORT_MS else 1.0


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two thumbnails, 0 (same) to 1."""
    return float(ImageStat.Stat(ImageChops.difference(a, b)).mean[0]) / 255


def thumbnail(frame: Image.Image) -> Image.Image:
    """The 16x16 grayscale picture that frame selection compares."""
    return frame.convert("L").resize(THUMB, Image.Resampling.BOX)


def choose(seen: Sequence[Seen], max_frames: int) -> list[int]:
    """Indexes of the frames to judge, in order: the first; then the biggest changes from the
    previous frame (weighted by duration); then frames evenly spaced in weighted display time.
    A frame (nearly) the same as one chosen is skipped: it would tell the model nothing new."""
    chosen = [seen[0]]

    def add(candidate: Seen) -> None:
        if len(chosen) < max_frames and all(
            difference(candidate.thumb, c.thumb) >= SAME_BELOW for c in chosen
        ):
            chosen.append(candidate)

    changes = [(difference(p.thumb, s.thumb) * s.weight, s) for p, s in pairwise(seen)]
    for change, frame in sorted(changes, key=lambda cs: -cs[0]):
        if change < CHANGE_AT:
            break
        add(frame)
    for frame in evenly_spaced(seen, max_frames):
        add(frame)
    return sorted(c.index for c in chosen)


def evenly_spaced(seen: Sequence[Seen], count: int) -> list[Seen]:
    """``count`` frames spread evenly over the animation's weighted display time: each the
    frame on screen at the middle of one of ``count`` equal spans."""
    total = sum(s.weight for s in seen)
    picked, elapsed, frames = [], 0.0, iter(seen)
    current = next(frames)
    for span in range(count):
        target = total * (span + 0.5) / count
        while elapsed + current.weight <= target:
            elapsed += current.weight
            current = next(frames, current)
        picked.append(current)
    return picked


def _seek(img: Image.Image, index: int, deadline: float, limits: AnimationLimits) -> None:
    """Decode frame ``index``; ImageRejected when corrupt or past the time cap."""
    if time.monotonic() > deadline:
        raise ImageRejected(
            "too_large",
            f"decoding the animation took over {limits.decode_timeout_s:g} s "
            "(MODERATION_ANIMATION_DECODE_TIMEOUT_S)",
        )
    try:
        img.seek(index)
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("invalid", f"corrupt frame {index}: {exc}") from exc


def scan(img: Image.Image, count: int, deadline: float, limits: AnimationLimits) -> list[Seen]:
    """The first pass: every frame's thumbnail, duration and start."""
    seen, offset = [], 0
    for index in range(count):
        _seek(img, index, deadline, limits)
        duration = int(img.info.get("duration") or 0)
        seen.append(Seen(index, offset, duration, thumbnail(img)))
        offset += duration
    return seen


def pixels_sha256(image: Image.Image) -> str:
    """The sha256 of a frame's decoded pixels (mode, size and bytes)."""
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def select_frames(data: bytes, *, max_pixels: int, limits: AnimationLimits) -> list[Frame] | None:
    """The frames to judge of an animated image, or None for a still one (one frame: the
    caller decodes it as before). Over a cap, or corrupt: ImageRejected."""
    img = open_for_decoding(data, max_pixels=max_pixels)
    count = check_animation(img, data, limits)
    if count < 2:
        return None
    deadline = time.monotonic() + limits.decode_timeout_s
    seen = scan(img, count, deadline, limits)
    frames = []
    for index in choose(seen, limits.max_frames):
        _seek(img, index, deadline, limits)
        image = model_rgb(img)
        frames.append(Frame(index, seen[index].offset_ms, image, pixels_sha256(image)))
    return frames


def frame_png(data: bytes, index: int, *, max_pixels: int, limits: AnimationLimits) -> bytes:
    """Frame ``index`` of an animation as PNG bytes (what the review console shows)."""
    img = open_for_decoding(data, max_pixels=max_pixels)
    count = check_animation(img, data, limits)
    if not 0 <= index < count:
        raise ImageRejected("invalid", f"the animation has no frame {index}")
    _seek(img, index, time.monotonic() + limits.decode_timeout_s, limits)
    buffer = io.BytesIO()
    model_rgb(img).save(buffer, format="PNG")
    return buffer.getvalue()
