"""From a verdict to a decision: thresholds on the model's probabilities, then the stored record."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from moderation.inference.rubric import NO_CATEGORY
from moderation.inference.types import Scores, Verdict
from moderation.policies.format import Outcome, Policy
from moderation.submissions import decision_repository as decisions
from moderation.submissions.models import Decision
from moderation.submissions.types import SubmissionRef


@dataclass(frozen=True)
class ModelInfo:
    """Provenance of the model that produced a verdict."""

    model_id: str
    revision: str
    decoding: dict[str, Any]


def decide(policy: Policy, unsafe: float, categories: dict[str, float]) -> Outcome:
    """Apply the policy thresholds to P(unsafe); name the most probable category when unsafe.

    The rating is "unsafe" when P(unsafe) reaches ``review_at``; at ``block_at`` the action is the
    action of the most probable category (block unless the policy says review).
    """
    real = {cid: p for cid, p in categories.items() if cid != NO_CATEGORY}
    top = max(policy.category_ids, key=lambda cid: real.get(cid, 0.0))
    if unsafe >= policy.thresholds.block_at:
        return Outcome(policy.category(top).action, "unsafe", top)
    if unsafe >= policy.thresholds.review_at:
        return Outcome("review", "unsafe", top)
    return Outcome("allow", "safe", None)


def verdict_key(
    submission: SubmissionRef,
    model: ModelInfo,
    scope: str = "tenant",
    frame_sha256: str | None = None,
) -> str:
    """What makes a verdict reproducible (image bytes, policy version, model, decoding), and,
    under the ``tenant`` cache scope, whose it is: a verdict is then reused only within its
    tenant, so a cache hit never tells a tenant that another tenant uploaded the same bytes.
    Under ``global`` the key leaves the tenant out (as keys did before tenant scoping). With
    ``frame_sha256`` (the decoded pixels of one frame of an animation) the frame's key."""
    owner = [str(submission.tenant_id)] if scope == "tenant" else []
    image = [submission.image_sha256] if frame_sha256 is None else ["frame", frame_sha256]
    material = [
        *owner,
        *image,
        submission.policy_version,
        model.model_id,
        model.revision,
        model.decoding,
    ]
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def stored_scores(scores: Scores) -> dict[str, Any]:
    """Scores as a decision or a frame verdict stores them (JSON)."""
    return {"unsafe": scores.unsafe, "categories": scores.categories}


def scores_of(stored: dict[str, Any]) -> Scores:
    """The scores :func:`stored_scores` stored."""
    return Scores(unsafe=stored["unsafe"], categories=dict(stored["categories"]))


def _verdict_of(row: Decision) -> Verdict:
    scores = scores_of(row.scores)
    return Verdict(
        rating=row.verdict["rating"],
        category=row.verdict["category"],
        rationale=row.rationale,
        raw_text=row.raw_text,
        scores=scores,
        prompt_sha256=row.prompt_sha256,
        latency_ms=0.0,
    )


@dataclass(frozen=True)
class CachedVerdict:
    """A verdict the model gave before: the decision that holds it and that decision's
    tenant (under the ``global`` cache scope, maybe not the tenant now asking)."""

    decision_id: uuid.UUID
    tenant_id: uuid.UUID
    verdict: Verdict
    frames: list[dict[str, Any]] | None = None  # an animation's judged frames

    def source_for(self, tenant_id: uuid.UUID) -> uuid.UUID | None:
        """The decision to name as ``cached_from`` for ``tenant_id``'s submission: only one of
        its own, so nothing a tenant reads links another tenant's submission."""
        return self.decision_id if self.tenant_id == tenant_id else None


def cached_verdicts(session: Session, keys: list[str]) -> dict[str, CachedVerdict]:
    """Verdicts the model already gave for these keys, with the decisions that hold them."""
    return {
        key: CachedVerdict(row.id, tenant_id, _verdict_of(row), row.frames)
        for key, (row, tenant_id) in decisions.model_verdicts(session, keys).items()
    }


@dataclass(frozen=True)
class VerdictToRecord:
    """A verdict for a submission, with its provenance: ``cached`` when the verdict cache gave
    it, ``cached_from`` the decision it came from (only one of the same tenant's), and the
    key it is cached under."""

    submission: SubmissionRef
    policy: Policy
    verdict: Verdict
    model: ModelInfo
    cached: bool = False
    cached_from: uuid.UUID | None = None
    key: str | None = None  # default: the tenant-scoped key
    frames: list[dict[str, Any]] | None = None  # an animation: its judged frames


def _decision_row(item: VerdictToRecord, outcome: Outcome) -> dict[str, Any]:
    sub, verdict, model = item.submission, item.verdict, item.model
    return {
        "id": uuid.uuid4(),
        "submission_id": sub.id,
        "action": outcome.action,
        "rating": outcome.rating,
        "category": outcome.category,
        "rationale": verdict.rationale,
        "scores": stored_scores(verdict.scores),
        "decided_by": "model",
        "model_action": outcome.action,
        "model_category": outcome.category,
        "source": "cache" if item.cached else "model",
        "verdict_key": item.key or verdict_key(sub, model),
        "cached_from": item.cached_from,
        "frames": item.frames,
        "verdict": {"rating": verdict.rating, "category": verdict.category},
        "raw_text": verdict.raw_text,
        "model_id": model.model_id,
        "model_revision": model.revision,
        "prompt_sha256": verdict.prompt_sha256,
        "decoding": model.decoding,
        "latency_ms": verdict.latency_ms,
    }


def _decided_event(item: VerdictToRecord, outcome: Outcome) -> dict[str, Any]:
    return {
        "tenant_id": item.submission.tenant_id,
        "subject_type": "submission",
        "subject_id": str(item.submission.id),
        "event": "decision.made",
        "actor": f"model:{item.model.model_id}",
        "data": {
            **asdict(outcome),
            "unsafe": item.verdict.scores.unsafe,
            "source": "cache" if item.cached else "model",
            "cached_from": None if item.cached_from is None else str(item.cached_from),
            **({} if item.frames is None else {"frames": [f["index"] for f in item.frames]}),
        },
    }


def record_verdicts(
    session: Session, items: list[VerdictToRecord], fanout: decisions.Fanout | None = None
) -> dict[uuid.UUID, str]:
    """Decide the still-open submissions of ``items``: each gets its decision and audit event
    once, and ``fanout``'s webhook messages (one statement); returns the submissions decided
    now."""
    outcomes = [
        decide(i.policy, i.verdict.scores.unsafe, i.verdict.scores.categories) for i in items
    ]
    pairs = list(zip(items, outcomes, strict=True))
    return decisions.close_and_record(
        session,
        [_decision_row(i, o) for i, o in pairs],
        [_decided_event(i, o) for i, o in pairs],
        fanout,
    )
