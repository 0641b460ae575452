"""A reviewer decides a queued item: the decision becomes the human's final allow or block (the
model's verdict kept beside it), a review and an audit event are written, an open appeal is
resolved, the claim is released and ``moderation.updated`` is emitted, all in the caller's
transaction. A decision a reviewer already made is reviewed again only on purpose."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, get_args

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.banks.service import (
    BankNotFound,
    HashesUnknown,
    ReviewedImage,
    add_reviewed_image,
)
from moderation.observability import metrics
from moderation.policies import repository as policies
from moderation.policies.format import Action
from moderation.review import queue_repository as queue_repo
from moderation.review.models import Review
from moderation.review.queue import refuse_reviewed, visible_decision
from moderation.review.repository import Outcome, add_review
from moderation.submissions import appeal_repository as appeals
from moderation.submissions import decision_repository as decisions
from moderation.submissions.models import Appeal, Decision, Submission
from moderation.webhooks.events import MODERATION_UPDATED, emit_events

ACTIONS: tuple[str, ...] = get_args(Action)  # a decision's, the model's included
HUMAN_ACTIONS: tuple[str, ...] = ("allow", "block")  # a human's decision is final
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
class Notes:
    """The reviewer's internal note (kept in the review) and the resolution note sent to the
    platform with an appeal's outcome."""

    internal: str = ""
    resolution: str = ""


@dataclass(frozen=True)
class ReviewResult:
    """What a review changed."""

    review: Review
    decision: Decision
    appeal: Appeal | None  # the appeal it resolved
    webhook_messages: int


def agreeing(decision: Decision) -> Judgement:
    """The final decision that agrees with the current one: its block (with its category) or
    its allow; a ``review`` with a category agrees with blocking it."""
    if decision.action == "allow" or decision.category is None:
        return Judgement("allow", None)
    return Judgement("block", decision.category)


def _held(
    session: Session, submission_id: uuid.UUID, reviewer: str, viewer: uuid.UUID | None
) -> tuple[Submission, Decision]:
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


def _check(session: Session, submission: Submission, j: Judgement) -> None:
    if j.action not in HUMAN_ACTIONS:
        raise ReviewInvalid(f"action must be one of {', '.join(HUMAN_ACTIONS)}, not {j.action!r}")
    if j.action == "allow" and j.category is not None:
        raise ReviewInvalid("an allow takes no category (it is safe)")
    if j.action == "block" and j.category is None:
        raise ReviewInvalid("a block needs the category that applies")
    version = policies.get_version(session, submission.policy_version)
    known = [c["id"] for c in version.content["categories"]] if version else []
    if j.category is not None and j.category not in known:
        raise ReviewInvalid(
            f"category {j.category!r} is not in policy {submission.policy_version} "
            f"({', '.join(known)}; or none)"
        )


def decide(
    session: Session,
    submission_id: uuid.UUID,
    reviewer: str,
    judgement: Judgement,
    notes: Notes = Notes(),
    viewer_tenant_id: uuid.UUID | None = None,
    *,
    again: bool = False,
    add_to_bank: uuid.UUID | None = None,
) -> ReviewResult:
    """The reviewer's final allow or block of a claimed item: agreeing with the current
    decision is a ``confirm`` (the note optional), anything else an ``overturn`` (a note
    required). AlreadyReviewed for an item a reviewer decided, unless ``again``. A block
    may add the image to the hash bank ``add_to_bank`` (its near-duplicates then never reach
    the model)."""
    submission, decision = _held(session, submission_id, reviewer, viewer_tenant_id)
    refuse_reviewed(session, decision, again)
    _check(session, submission, judgement)
    outcome: Outcome = "confirm" if judgement == agreeing(decision) else "overturn"
    if outcome == "overturn" and not notes.internal.strip():
        raise ReviewInvalid("a note is required to change the model's action")
    result = _record(session, submission, decision, reviewer, outcome, judgement, notes)
    if add_to_bank is not None:
        _bank(session, submission, judgement, add_to_bank, reviewer, viewer_tenant_id)
    metrics.DECISIONS.labels(judgement.action, "reviewer").inc()
    return result


def _bank(
    session: Session,
    submission: Submission,
    judgement: Judgement,
    bank_id: uuid.UUID,
    reviewer: str,
    viewer: uuid.UUID | None,
) -> None:
    if judgement.action != "block":
        raise ReviewInvalid("only a block adds the image to a hash bank")
    image = ReviewedImage(
        submission.id, submission.tenant_id, submission.image_sha256, judgement.category
    )
    try:
        add_reviewed_image(session, bank_id, image, reviewer, viewer)
    except BankNotFound:
        raise ReviewInvalid("no such hash bank for this item's tenant") from None
    except HashesUnknown:
        raise ReviewInvalid("the image has not been hashed yet; it cannot be banked") from None


def _record(
    session: Session,
    submission: Submission,
    decision: Decision,
    reviewer: str,
    outcome: Outcome,
    judgement: Judgement,
    notes: Notes,
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
        note=notes.internal,
    )
    appeal = appeals.open_for(session, submission.id)
    if appeal is not None:
        appeals.resolve(session, appeal, _APPEAL_STATUS[outcome], notes.resolution)
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
            "note": notes.internal,
            "appeal_id": None if appeal is None else str(appeal.id),
            "resolution_note": None if appeal is None else notes.resolution,
        },
    )
    queue_repo.release(session, submission.id, reviewer)
    sent = emit_events(session, MODERATION_UPDATED, [submission.id])
    return ReviewResult(review, decision, appeal, sent)


def confirm(
    session: Session,
    submission_id: uuid.UUID,
    reviewer: str,
    note: str = "",
    viewer_tenant_id: uuid.UUID | None = None,
) -> ReviewResult:
    """The reviewer agrees with the current decision (a ``review`` with a category: block)."""
    _, _, decision = visible_decision(session, submission_id, viewer_tenant_id)
    judgement = agreeing(decision)
    return decide(session, submission_id, reviewer, judgement, Notes(note), viewer_tenant_id)


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
    judgement = Judgement(action, category)
    return decide(session, submission_id, reviewer, judgement, Notes(note), viewer_tenant_id)
