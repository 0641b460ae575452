"""Verdicts on the frames of an animated image: cached per frame, and the most severe frame
decides the submission (its scores, category and rationale become the decision's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from moderation.inference.types import Verdict
from moderation.policies.format import Policy
from moderation.submissions import frame_verdict_repository as repo
from moderation.submissions.models import FrameVerdict
from moderation.submissions.verdicts import decide, scores_of, stored_scores


@dataclass(frozen=True)
class JudgedFrame:
    """A frame of an animation with the verdict on it (``cached``: from the frame cache)."""

    index: int
    offset_ms: int
    verdict: Verdict
    cached: bool


def _verdict_of(row: FrameVerdict) -> Verdict:
    return Verdict(
        rating=row.rating,
        category=row.category,
        rationale=row.rationale,
        raw_text=row.raw_text,
        scores=scores_of(row.scores),
        prompt_sha256=row.prompt_sha256,
        latency_ms=0.0,
    )


def cached_frame_verdicts(session: Session, keys: list[str]) -> dict[str, Verdict]:
    """The verdicts the model already gave for these frame keys."""
    return {key: _verdict_of(row) for key, row in repo.get_many(session, keys).items()}


def store_frame_verdicts(session: Session, verdicts: Mapping[str, Verdict]) -> None:
    """Cache the model's verdicts on frames, by frame key."""
    repo.add_many(
        session,
        [
            {
                "key": key,
                "rating": v.rating,
                "category": v.category,
                "rationale": v.rationale,
                "raw_text": v.raw_text,
                "scores": stored_scores(v.scores),
                "prompt_sha256": v.prompt_sha256,
            }
            for key, v in verdicts.items()
        ],
    )


def most_severe(
    policy: Policy, judged: Sequence[JudgedFrame]
) -> tuple[Verdict, list[dict[str, Any]]]:
    """The verdict that decides an animation (the frame with the highest P(unsafe); the
    earliest on a tie), its latency the model time of all its frames; and the frames as the
    decision lists them (``index``, ``offset_ms``, and each frame's own ``rating``,
    ``category`` and ``unsafe`` under the policy's thresholds)."""
    worst = max(judged, key=lambda f: (f.verdict.scores.unsafe, -f.index))
    listed = []
    for frame in judged:
        scores = frame.verdict.scores
        outcome = decide(policy, scores.unsafe, scores.categories)
        listed.append(
            {
                "index": frame.index,
                "offset_ms": frame.offset_ms,
                "rating": outcome.rating,
                "category": outcome.category,
                "unsafe": scores.unsafe,
            }
        )
    latency = sum(f.verdict.latency_ms for f in judged)
    return replace(worst.verdict, latency_ms=latency), listed
