"""The reviewer's run through the queue: claim the next free item of a filter (no two
reviewers get the same one), skip an item, and undo a decision just made."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.review import queue_repository as queue_repo
from moderation.review import repository as review_repo
from moderation.review.actions import ReviewInvalid
from moderation.review.queue import QueueFilter, visible_decision
from moderation.submissions import appeal_repository as appeals
from moderation.submissions import decision_repository as decisions
from moderation.webhooks.events import MODERATION_UPDATED, emit_events

UNDO_WINDOW_S = 10  # what the console offers
_UNDO_GRACE_S = 5  # the round trip of the click that undoes it
_BATCH = 25


def claim_next(
    session: Session,
    flt: QueueFilter,
    reviewer: str,
    viewer: uuid.UUID | None,
    *,
    sample_rate: float,
    ttl_s: int,
    skip: Collection[uuid.UUID] = (),
) -> uuid.UUID | None:
    """Claim the first item of the queue (in its priority order) that nobody else holds and
    that is not in ``skip``; one the reviewer holds already comes first. None when none is
    left. Two reviewers asking at once get different items: each claim is one atomic upsert
    that fails for an item another reviewer just took, and then the next one is tried."""
    offset = 0
    while True:
        items = queue_repo.queue_items(session, flt, sample_rate, viewer, offset, _BATCH)
        mine = [i for i in items if i.claimed_by == reviewer and i.submission_id not in skip]
        free = [i for i in items if i.claimed_by is None and i.submission_id not in skip]
        for item in mine + free:
            if queue_repo.claim(session, item.submission_id, reviewer, ttl_s) is not None:
                return item.submission_id
        if len(items) < _BATCH:
            return None
        offset += _BATCH


def undo_review(
    session: Session,
    submission_id: uuid.UUID,
    reviewer: str,
    viewer: uuid.UUID | None,
    *,
    ttl_s: int,
) -> None:
    """Take back the reviewer's latest review of the item, within :data:`UNDO_WINDOW_S`: the
    decision and any appeal it resolved are as before, the review is gone (a
    ``review.undone`` audit event says so), and the item is the reviewer's claim again."""
    submission, _, decision = visible_decision(session, submission_id, viewer)
    review = review_repo.latest_for(session, submission_id)
    if review is None or review.reviewer != reviewer:
        raise ReviewInvalid("there is no review of yours to undo on this item")
    if review_repo.age_s(session, review) > UNDO_WINDOW_S + _UNDO_GRACE_S:
        raise ReviewInvalid(f"a review can be undone within {UNDO_WINDOW_S} s only")
    event = next(
        e
        for e in audit.for_subject(session, "submission", str(submission_id))
        if e.data.get("review_id") == str(review.id)
    )
    before = event.data["before"]
    decisions.set_by_reviewer(
        session,
        decision,
        before["action"],
        before["rating"],
        before["category"],
        decided_by=before["decided_by"],
    )
    if event.data.get("appeal_id"):
        appeals.reopen(session, uuid.UUID(event.data["appeal_id"]))
    review_repo.delete_review(session, review)
    audit.append(
        session,
        tenant_id=submission.tenant_id,
        subject_type="submission",
        subject_id=str(submission_id),
        event="review.undone",
        actor=reviewer,
        data={"review_id": str(review.id), "restored": before},
    )
    queue_repo.claim(session, submission_id, reviewer, ttl_s)
    emit_events(session, MODERATION_UPDATED, [submission_id])
