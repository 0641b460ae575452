"""The review queue: what needs a human (model ``review`` actions, open appeals, a quality
sample of automatic decisions), and claims that give an item to one reviewer at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.config import get_settings
from moderation.review import queue_repository as queue_repo
from moderation.review.clock import when
from moderation.review.queue_repository import REASONS, Claim, QueueFilter, QueueItem, Reason
from moderation.submissions import appeal_repository as appeals
from moderation.submissions.models import Decision, Image, Submission

__all__ = [
    "REASONS",
    "AlreadyReviewed",
    "Claim",
    "ClaimHeld",
    "ItemNotFound",
    "QueueFilter",
    "QueueItem",
    "QueuePage",
    "Reason",
    "claim_item",
    "list_queue",
    "refuse_reviewed",
    "release_item",
    "visible_decision",
]

MAX_PAGE_SIZE = 200


class ItemNotFound(LookupError):
    """No decided submission with this id that the viewer may see."""


class ClaimHeld(Exception):
    """Another reviewer holds the item."""

    def __init__(self, claim: Claim | None) -> None:
        held = "" if claim is None else f" by {claim.reviewer} until {when(claim.expires_at)}"
        super().__init__(f"the item is claimed{held}")
        self.claim = claim


class AlreadyReviewed(Exception):
    """A reviewer decided the item already (and no appeal is open): it is reviewed again
    only on purpose, from its page."""

    def __init__(self) -> None:
        super().__init__("a reviewer decided this item already; use Re-review to change it")


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue, the total under the filter, and counts per reason (every reason,
    whatever the filter's own ``reason``)."""

    items: list[QueueItem]
    total: int
    counts_by_reason: dict[Reason, int]
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """How many pages the filter spans (at least 1)."""
        return max(1, -(-self.total // self.page_size))


def list_queue(
    session: Session,
    flt: QueueFilter,
    page: int = 1,
    page_size: int = 50,
    viewer_tenant_id: uuid.UUID | None = None,
    *,
    sample_rate: float | None = None,
) -> QueuePage:
    """Page ``page`` (from 1) of the items needing review; a tenant-scoped viewer sees only its
    tenant's items. ``sample_rate`` defaults to MODERATION_REVIEW_SAMPLE_RATE."""
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page must be >= 1 and page_size within 1..{MAX_PAGE_SIZE}")
    rate = get_settings().review_sample_rate if sample_rate is None else sample_rate
    counts = queue_repo.queue_counts(session, flt, rate, viewer_tenant_id)
    total = counts[flt.reason] if flt.reason is not None else sum(counts.values())
    offset = (page - 1) * page_size
    items = queue_repo.queue_items(session, flt, rate, viewer_tenant_id, offset, page_size)
    return QueuePage(items, total, counts, page, page_size)


def backlog_by_reason(session: Session) -> dict[Reason, int]:
    """Items waiting for review in every tenant's queue, per reason (the sample at the
    configured MODERATION_REVIEW_SAMPLE_RATE)."""
    return queue_repo.queue_counts(session, QueueFilter(), get_settings().review_sample_rate, None)


def visible_decision(
    session: Session, submission_id: uuid.UUID, viewer_tenant_id: uuid.UUID | None
) -> tuple[Submission, Image, Decision]:
    """The decided submission, its image and decision (ItemNotFound: the viewer may not see it)."""
    found = queue_repo.decided_submission(session, submission_id, viewer_tenant_id)
    if found is None:
        raise ItemNotFound(submission_id)
    return found


def refuse_reviewed(session: Session, decision: Decision, again: bool) -> None:
    """AlreadyReviewed when a reviewer decided ``decision``, no appeal is open and the
    reviewer did not ask to review it ``again``."""
    reviewed = decision.decided_by == "reviewer" and not again
    if reviewed and appeals.open_for(session, decision.submission_id) is None:
        raise AlreadyReviewed


def claim_item(
    session: Session,
    submission_id: uuid.UUID,
    reviewer: str,
    viewer_tenant_id: uuid.UUID | None = None,
    ttl_s: int | None = None,
    *,
    again: bool = False,
) -> Claim:
    """Lock the item to ``reviewer`` for ``ttl_s`` (MODERATION_REVIEW_CLAIM_TTL_S by default);
    claiming again renews. ClaimHeld when another reviewer's claim is live; AlreadyReviewed
    for an item a reviewer decided, unless ``again``."""
    _, _, decision = visible_decision(session, submission_id, viewer_tenant_id)
    refuse_reviewed(session, decision, again)
    ttl = get_settings().review_claim_ttl_s if ttl_s is None else ttl_s
    taken = queue_repo.claim(session, submission_id, reviewer, ttl)
    if taken is None:
        raise ClaimHeld(queue_repo.live_claim(session, submission_id))
    return taken


def release_item(
    session: Session,
    submission_id: uuid.UUID,
    reviewer: str,
    viewer_tenant_id: uuid.UUID | None = None,
) -> bool:
    """Give the item back to the queue; False when ``reviewer`` held no claim on it."""
    visible_decision(session, submission_id, viewer_tenant_id)
    return queue_repo.release(session, submission_id, reviewer)
