"""Fault injection for resilience tests: an engine that fails for one image size.

A poison submission (one that makes inference raise, or kills the process, on every attempt)
has no natural trigger with the shipped engines, which accept any image intake lets through.
The ``chaos_fail_image_size`` setting wraps the real engine so that a model call holding an
image of exactly that size raises; ``chaos_kill_image_size`` makes such a call end its own
process with SIGKILL instead, as an out-of-memory kill or a crash in native code would. Off by
default; refused in production.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from moderation.inference.rubric import Rubric
from moderation.inference.types import Engine, ModerationRequest, Verdict


class InjectedFault(RuntimeError):
    """The failure the chaos engine injects."""


def parse_size(value: str) -> tuple[int, int]:
    """``"WxH"`` as (width, height)."""
    width, _, height = value.lower().partition("x")
    return int(width), int(height)


@dataclass
class FailingOnSize:
    """Delegates to ``inner``; for a batch holding an image of ``size`` raises ``InjectedFault``,
    or with ``kill`` ends this process (SIGKILL: no cleanup, no acknowledgement)."""

    inner: Engine
    size: tuple[int, int]
    kill: bool = False

    def __post_init__(self) -> None:
        self.model_id, self.revision = self.inner.model_id, self.inner.revision
        self.device, self.dtype = self.inner.device, self.inner.dtype
        self.warmed_up = self.inner.warmed_up
        self.profile = self.inner.profile

    def decoding_params(self, rubric: Rubric) -> dict[str, object]:
        """The inner engine's decoding parameters."""
        return self.inner.decoding_params(rubric)

    def ready(self) -> None:
        """Whether the inner engine can judge now."""
        self.inner.ready()

    def warm_up(self) -> None:
        """Warm the inner engine up."""
        self.inner.warm_up()

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        """The inner engine's verdicts, unless an image has the poisoned size."""
        if any(r.image.size == self.size for r in requests):
            if self.kill:
                os.kill(os.getpid(), signal.SIGKILL)
            raise InjectedFault(
                f"injected inference fault for a {self.size[0]}x{self.size[1]} image"
            )
        return self.inner.moderate_batch(requests)
