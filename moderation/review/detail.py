"""Everything the review page shows of one item: image, current decision, the model's own
verdict, scores, the exact policy version, provenance and history.

Text here is raw (the rationale is untrusted model output): escaping is the renderer's job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.policies import repository as policies
from moderation.review import queue_repository as queue_repo
from moderation.review import repository as review_repo
from moderation.review.models import Review
from moderation.review.queue import Claim, visible_decision
from moderation.submissions import appeal_repository as appeals
from moderation.submissions.models import Appeal, Decision, Image, Submission


@dataclass(frozen=True)
class ModelVerdict:
    """What the model decided and said, kept unchanged whatever reviewers do later."""

    action: str
    rating: str
    category: str | None
    verdict: dict[str, Any]  # the model's own {"rating", "category"}
    rationale: str
    raw_text: str


@dataclass(frozen=True)
class Provenance:
    """Enough to reproduce the verdict."""

    image_sha256: str
    policy_version: str
    model_id: str
    model_revision: str
    prompt_sha256: str
    decoding: dict[str, Any]
    latency_ms: float
    source: str
    cached_from: uuid.UUID | None


@dataclass(frozen=True)
class PolicyText:
    """The exact policy version the decision was made under."""

    slug: str
    version: str
    content_sha256: str
    content: dict[str, Any]
    text: str  # the content as YAML, in rubric order
    category_names: dict[str, str]

    @property
    def categories(self) -> list[dict[str, Any]]:
        """The rubric's categories (id, name, should_not, can), in order."""
        return list(self.content.get("categories", []))


@dataclass(frozen=True)
class HistoryEntry:
    """One event of the submission's audit trail, with what a person wrote for it."""

    at: datetime
    event: str
    actor: str
    data: dict[str, Any]

    @property
    def notes(self) -> list[tuple[str, str]]:
        """(label, text) of the notes and reasons written with the event."""
        labels = (
            ("reason", "appeal reason"),
            ("note", "internal note"),
            ("resolution_note", "sent to the platform"),
        )
        return [(label, str(self.data[k])) for k, label in labels if self.data.get(k)]


@dataclass(frozen=True)
class ReviewDetail:
    """The review page of one submission."""

    submission: Submission
    image: Image
    decision: Decision  # current: a reviewer's change shows here
    model: ModelVerdict
    unsafe: float
    category_scores: dict[str, float]
    policy: PolicyText
    provenance: Provenance
    history: list[HistoryEntry]
    claim: Claim | None
    open_appeal: Appeal | None
    earlier_review: Review | None  # the latest review, shown when re-reviewing
    tenant_name: str


def _model_verdict(decision: Decision) -> ModelVerdict:
    return ModelVerdict(
        action=decision.model_action,
        rating="safe" if decision.model_category is None else "unsafe",
        category=decision.model_category,
        verdict=dict(decision.verdict),
        rationale=decision.rationale,
        raw_text=decision.raw_text,
    )


def _provenance(submission: Submission, decision: Decision) -> Provenance:
    return Provenance(
        image_sha256=submission.image_sha256,
        policy_version=submission.policy_version,
        model_id=decision.model_id,
        model_revision=decision.model_revision,
        prompt_sha256=decision.prompt_sha256,
        decoding=dict(decision.decoding),
        latency_ms=decision.latency_ms,
        source=decision.source,
        cached_from=decision.cached_from,
    )


def _policy_text(session: Session, version: str) -> PolicyText:
    row = policies.get_version(session, version)
    if row is None:  # the foreign key forbids it
        raise LookupError(f"policy version {version} is missing")
    names = {c["id"]: c["name"] for c in row.content.get("categories", [])}
    text = yaml.safe_dump(row.content, sort_keys=False, allow_unicode=True, width=100)
    return PolicyText(row.slug, row.version, row.content_sha256, row.content, text, names)


def _history(session: Session, submission_id: uuid.UUID) -> list[HistoryEntry]:
    """The audit trail alone: every review, appeal and undo writes its event there once."""
    return [
        HistoryEntry(e.created_at, e.event, e.actor, dict(e.data))
        for e in audit.for_subject(session, "submission", str(submission_id))
    ]


def review_detail(
    session: Session, submission_id: uuid.UUID, viewer_tenant_id: uuid.UUID | None = None
) -> ReviewDetail:
    """The page of one decided submission (ItemNotFound when the viewer may not see it)."""
    submission, image, decision = visible_decision(session, submission_id, viewer_tenant_id)
    return ReviewDetail(
        submission=submission,
        image=image,
        decision=decision,
        model=_model_verdict(decision),
        unsafe=float(decision.scores["unsafe"]),
        category_scores={k: float(v) for k, v in decision.scores["categories"].items()},
        policy=_policy_text(session, submission.policy_version),
        provenance=_provenance(submission, decision),
        history=_history(session, submission_id),
        claim=queue_repo.live_claim(session, submission_id),
        open_appeal=appeals.open_for(session, submission_id),
        earlier_review=review_repo.latest_for(session, submission_id),
        tenant_name=queue_repo.tenant_name(session, submission.tenant_id),
    )
