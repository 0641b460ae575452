"""From a verdict to a decision: thresholds on the model's probabilities, then the stored record."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.orm import Session

from moderation.domain.policies import NO_CATEGORY, Action, Policy
from moderation.inference.types import Scores, Verdict
from moderation.storage.models import Submission
from moderation.storage.repositories import audit, decisions


@dataclass(frozen=True)
class Outcome:
    """The decision drawn from a verdict's scores under a policy."""

    action: Action
    rating: str
    category: str | None


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


def verdict_key(image_sha256: str, policy_version: str, model: ModelInfo) -> str:
    """What makes a verdict reproducible: image bytes, policy version, model, decoding."""
    material = [image_sha256, policy_version, model.model_id, model.revision, model.decoding]
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def cached_verdict(session: Session, key: str) -> tuple[uuid.UUID, Verdict] | None:
    """A verdict the model already gave for this key, with the decision that holds it."""
    row = decisions.find_model_verdict(session, key)
    if row is None:
        return None
    category = row.verdict["category"]
    scores = Scores(unsafe=row.scores["unsafe"], categories=dict(row.scores["categories"]))
    verdict = Verdict(
        rating=row.verdict["rating"],
        category=category,
        rationale=row.rationale,
        raw_text=row.raw_text,
        scores=scores,
        prompt_sha256=row.prompt_sha256,
        latency_ms=0.0,
    )
    return row.id, verdict


def record_verdict(
    session: Session,
    submission: Submission,
    policy: Policy,
    verdict: Verdict,
    model: ModelInfo,
    cached_from: uuid.UUID | None = None,
) -> bool:
    """Store the decision for a submission once; True when this call wrote it.

    ``cached_from`` names the decision whose verdict is reused (the verdict cache).
    """
    outcome = decide(policy, verdict.scores.unsafe, verdict.scores.categories)
    written = decisions.add_once(
        session,
        submission.id,
        action=outcome.action,
        rating=outcome.rating,
        category=outcome.category,
        rationale=verdict.rationale,
        scores={"unsafe": verdict.scores.unsafe, "categories": verdict.scores.categories},
        decided_by="model",
        source="model" if cached_from is None else "cache",
        verdict_key=verdict_key(submission.image_sha256, submission.policy_version, model),
        cached_from=cached_from,
        verdict={"rating": verdict.rating, "category": verdict.category},
        raw_text=verdict.raw_text,
        model_id=model.model_id,
        model_revision=model.revision,
        prompt_sha256=verdict.prompt_sha256,
        decoding=model.decoding,
        latency_ms=verdict.latency_ms,
    )
    if written:
        audit.append(
            session,
            tenant_id=submission.tenant_id,
            subject_type="submission",
            subject_id=str(submission.id),
            event="decision.made",
            actor=f"model:{model.model_id}",
            data={
                **asdict(outcome),
                "unsafe": verdict.scores.unsafe,
                "cached_from": None if cached_from is None else str(cached_from),
            },
        )
    return written
