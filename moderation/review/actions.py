"""A reviewer confirms or overturns a decision: the decision changes (the model's verdict
kept beside it), a review and an audit event are written, an open appeal is resolved, the
claim is released and ``moderation.updated`` is emitted, all in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, get_args

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.policies import repository as policies
from moderation.policies.format import Action
from moderation.review import queue_repository as queue_repo
from moderation.review.models import Review
from moderation.review.queue import visible_decision
from moderation.review.repository import Outcome, add_review
from moderation.submissions import appeal_repository as appeals
from moderation.submissions import decision_repository as decisions
from moderation.submissions.models import Appeal, Decision, Submission
from moderation.webhooks.events import MODERATION_UPDATED, emit_events

ACTIONS: tuple[str, ...] = get_args(Action)
_APPEAL_STATUS: dict[Outcome, str] = {"confirm": "upheld", "overturn": "overturned"}
_EVENT: dict[Outcome, str] = {"confirm": "review.confirmed", "overturn": "review.overturned"}


class ReviewInvalid(ValueError):
    """The review cannot be recorded as given (no note, unknown action or category)."""


class ClaimRequired(PermissionError):
    """The reviewer does not hold a live claim on the item."""


@dataclass(frozen=True)
class Judgement:
    """What the reviewer says the decision should be."""

    action: str
    category: str | None

    @property
    def rating(self) -> str:
        """Safe when no category applies."""
        return "safe" if self.category is None else "unsafe"


@dataclass(frozen=True)
class ReviewResult:
    """What a review changed."""

    review: Review
    decision: Decision
    appeal: Appeal | None  # the appeal it resolved
    webhook_messages: int


def _held(
    session: Session, submission_id: uuid.UUID, reviewer: str, note: str, viewer: uuid.UUID | None
) -> tuple[Submission, Decision]:
    if not note.strip():
        raise ReviewInvalid("a note is required")
    submission, _, decision = visible_decision(session, submission_id, viewer)
    claim = queue_repo.live_claim(session, submission_id, lock=True)
    if claim is None or claim.reviewer != reviewer:
        raise ClaimRequired(f"claim moderation '{submission_id}' before reviewing it")
    return submission, decision


def _snapshot(decision: Decision) -> dict[str, Any]:
    return {
        "action": decision.action,
        "rating": decision.rating,
        "category": decision.category,
        "decided_by": decision.decided_by,
    }


def _record(
    session: Session,
    submission: Submission,
    decision: Decision,
    reviewer: str,
    outcome: Outcome,
    judgement: Judgement,
    note: str,
) -> ReviewResult:
    before = _snapshot(decision)
    decisions.set_by_reviewer(
        session, decision, judgement.action, judgement.rating, judgement.category
    )
    review = add_review(
        session,
        decision_id=decision.id,
        reviewer=reviewer,
        outcome=outcome,
        action=judgement.action,
        rating=judgement.rating,
        category=judgement.category,
        note=note,
    )
    appeal = appeals.open_for(session, submission.id)
    if appeal is not None:
        appeals.resolve(session, appeal, _APPEAL_STATUS[outcome], note)
    audit.append(
        session,
        tenant_id=submission.tenant_id,
        subject_type="submission",
        subject_id=str(submission.id),
        event=_EVENT[outcome],
        actor=reviewer,
        data={
            "review_id": str(review.id),
            "before": before,
            "after": _snapshot(decision),
            "note": note,
            "appeal_id": None if appeal is None else str(appeal.id),
        },
    )
    queue_repo.release(session, submission.id, reviewer)
    sent = emit_events(session, MODERATION_UPDATED, [submission.id])
    return ReviewResult(review, decision, appeal, sent)


def confirm(
    session: Session,
    submission_id: uuid.UUID,
    reviewer: str,
    note: str,
    viewer_tenant_id: uuid.UUID | None = None,
) -> ReviewResult:
    """The reviewer agrees with the current decision (it becomes theirs)."""
    submission, decision = _held(session, submission_id, reviewer, note, viewer_tenant_id)
    judgement = Judgement(decision.action, decision.category)
    return _record(session, submission, decision, reviewer, "confirm", judgement, note)


def _check(session: Session, submission: Submission, decision: Decision, j: Judgement) -> None:
    if j.action not in ACTIONS:
        raise ReviewInvalid(f"action must be one of {', '.join(ACTIONS)}, not {j.action!r}")
    version = policies.get_version(session, submission.policy_version)
    known = [c["id"] for c in version.content["categories"]] if version else []
    if j.category is not None and j.category not in known:
        raise ReviewInvalid(
            f"category {j.category!r} is not in policy {submission.policy_version} "
            f"({', '.join(known)}; or none)"
        )
    if j.action == "block" and j.category is None:
        raise ReviewInvalid("a block needs the category that applies")
    if (j.action, j.category) == (decision.action, decision.category):
        raise ReviewInvalid("the overturn changes nothing: confirm instead")


def overturn(
    session: Session,
    submission_id: uuid.UUID,
    reviewer: str,
    action: str,
    category: str | None,
    note: str,
    viewer_tenant_id: uuid.UUID | None = None,
) -> ReviewResult:
    """The reviewer replaces the decision with ``action`` and ``category`` (None: safe)."""
    submission, decision = _held(session, submission_id, reviewer, note, viewer_tenant_id)
    judgement = Judgement(action, category)
    _check(session, submission, decision, judgement)
    return _record(session, submission, decision, reviewer, "overturn", judgement, note)
