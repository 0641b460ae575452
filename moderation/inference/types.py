"""The inference contract: what a worker hands an engine and what it gets back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from moderation.inference.profiles import ProfileChoice
from moderation.inference.rubric import Rubric


@dataclass(frozen=True)
class ModerationRequest:
    """One image to judge against one rubric."""

    image: Image.Image  # already RGB and EXIF-transposed by the caller
    rubric: Rubric


@dataclass(frozen=True)
class Scores:
    """Probabilities read from the model's own token distribution (see docs/scores.md)."""

    unsafe: float  # P(rating == "unsafe")
    categories: dict[str, float]  # every category id of the rubric plus "none"; sums to 1


@dataclass(frozen=True)
class Verdict:
    """The model's structured answer for one request, with what is needed to reproduce it."""

    rating: str  # "safe" | "unsafe", as greedy-decoded
    category: str | None  # a category id as decoded; None when the model wrote "none"
    rationale: str
    raw_text: str  # the exact generated text
    scores: Scores
    prompt_sha256: str  # sha256 of the exact prompt text fed to the processor
    latency_ms: float  # this request's share of the batch wall time


class Engine(Protocol):
    """A loaded model that turns batches of requests into verdicts."""

    model_id: str
    revision: str
    device: str
    dtype: str
    warmed_up: bool
    profile: ProfileChoice  # how it asks the model (verdict format included)

    def decoding_params(self, rubric: Rubric) -> dict[str, object]:
        """How verdicts under ``rubric`` are decoded (provenance)."""
        ...

    def ready(self) -> None:
        """Raise ``EngineUnavailable`` when the engine cannot judge now (checked per batch)."""
        ...

    def warm_up(self) -> None:
        """Run one small generation so that the first real batch is not the slow one."""
        ...

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        """Judge the requests together; verdicts come back in request order."""
        ...


class EngineUnavailable(RuntimeError):
    """The engine cannot judge anything now (its server is down, overloaded or misconfigured).

    Not the images' fault: whoever called puts the work back for later and counts no attempt.
    """
