"""What the worker's flow carries: its context, its report, and each claimed submission."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PIL.Image import Image

from moderation.inference.types import Verdict
from moderation.observability import metrics
from moderation.policies.format import Policy
from moderation.storage.blobs import BlobStore
from moderation.submissions.frames import Frame
from moderation.submissions.images import AnimationLimits
from moderation.submissions.types import SubmissionRef
from moderation.submissions.verdicts import CachedVerdict, ModelInfo


@dataclass(frozen=True)
class FlowContext:
    """What the flow needs from its process: the database, the blobs and the limits."""

    db_url: str
    blobs: BlobStore
    max_pixels: int
    max_attempts: int
    verdict_cache_scope: str = "tenant"  # whose verdicts the cache reuses: see verdict_key
    animation: AnimationLimits = field(
        default_factory=AnimationLimits
    )  # frames judged, caps on animations


@dataclass
class FlowReport:
    """What happened to each submission id handed to the flow."""

    decided: list[uuid.UUID] = field(default_factory=list)
    cached: list[uuid.UUID] = field(default_factory=list)
    hash_matched: list[uuid.UUID] = field(default_factory=list)  # decided by a bank entry
    failed: list[uuid.UUID] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)
    retry: list[uuid.UUID] = field(default_factory=list)
    isolated: list[uuid.UUID] = field(default_factory=list)  # suspects, run one at a time
    unavailable: list[uuid.UUID] = field(default_factory=list)  # the engine could not judge now
    model_calls: int = 0
    model_ms: float = 0.0  # time inside the engine
    flow_ms: float = 0.0  # the whole flow: model_ms plus rows, blobs, images, decisions


@dataclass
class Claim:
    """A submission this worker claimed, and what the flow learns about it on the way."""

    submission: SubmissionRef  # attempts include this one
    policy: Policy
    model: ModelInfo
    key: str = ""  # its verdict key
    cached: CachedVerdict | None = None
    data: bytes | None = None  # the image file, once read
    image: Image | None = None  # a still image, decoded
    frames: list[Frame] | None = None  # an animation's chosen frames
    frame_keys: list[str] = field(default_factory=list)  # their verdict keys
    frame_cached: dict[str, Verdict] = field(default_factory=dict)  # by key
    frame_verdicts: dict[str, Verdict] = field(default_factory=dict)  # the model's, now
    frames_listed: list[dict[str, Any]] | None = None  # as the decision lists them

    @property
    def from_cache(self) -> bool:
        """Its verdict came from the cache: the image's, or every frame's."""
        return self.cached is not None or (self.frames is not None and not self.frame_verdicts)


def count_decisions(
    sources: Sequence[tuple[SubmissionRef, str]], written: dict[uuid.UUID, str]
) -> None:
    """Count the decisions written now (each submission with the source of its decision),
    and the time from each upload to its decision."""
    now = datetime.now(UTC)
    for ref, source in sources:
        action = written.get(ref.id)
        if action is None:
            continue
        metrics.DECISIONS.labels(action, source).inc()
        if ref.created_at is not None:
            metrics.DECISION_LATENCY.observe(max(0.0, (now - ref.created_at).total_seconds()))
