"""The review queue: decided submissions that need a human, filtered and paged, and the
claims that lock an item to one reviewer at a time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.policies.models import PolicyVersion
from moderation.review.models import Review, ReviewClaim
from moderation.submissions.models import Appeal, Decision, Image, Submission

Reason = Literal["appeal", "review", "sample"]
REASONS: tuple[Reason, ...] = ("appeal", "review", "sample")  # also the queue's priority order
SAMPLE_BUCKETS = 10_000


@dataclass(frozen=True)
class QueueFilter:
    """What a reviewer narrows the queue to; ``None`` means any. Dates bound ``decided_at``
    (``date_from`` inclusive, ``date_to`` exclusive)."""

    policy_slug: str | None = None
    category: str | None = None
    rating: str | None = None
    action: str | None = None
    tenant_id: uuid.UUID | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    reason: Reason | None = None


class QueueItem(NamedTuple):
    """One queue row: the submission, its current decision, why it is queued, who holds it."""

    submission_id: uuid.UUID
    tenant_id: uuid.UUID
    external_id: str | None
    image_sha256: str
    policy_slug: str
    policy_version: str
    action: str
    rating: str
    category: str | None
    decided_at: datetime
    reason: Reason
    claimed_by: str | None
    claim_expires_at: datetime | None


def _reason(sample_rate: float) -> ColumnElement[Any]:
    """Why a decided submission needs a human, or NULL. The quality sample is a stable hash
    of the submission id, so membership never changes between page loads."""
    open_appeal = exists().where(Appeal.submission_id == Submission.id, Appeal.status == "open")
    reviewed = exists().where(Review.decision_id == Decision.id)
    bucket = func.abs(cast(func.hashtext(cast(Submission.id, String)), BigInteger))
    sampled = bucket % SAMPLE_BUCKETS < round(sample_rate * SAMPLE_BUCKETS)
    automatic = and_(Decision.decided_by == "model", Decision.model_action.in_(("allow", "block")))
    return case(
        (open_appeal, literal("appeal")),
        (and_(Decision.action == "review", ~reviewed), literal("review")),
        (and_(automatic, ~reviewed, sampled), literal("sample")),
        else_=None,
    )


def _candidates(flt: QueueFilter, sample_rate: float, viewer: uuid.UUID | None) -> Any:
    conditions = [
        column == value
        for column, value in (
            (PolicyVersion.slug, flt.policy_slug),
            (Decision.category, flt.category),
            (Decision.rating, flt.rating),
            (Decision.action, flt.action),
            (Submission.tenant_id, flt.tenant_id),
            (Submission.tenant_id, viewer),
        )
        if value is not None
    ]
    if flt.date_from is not None:
        conditions.append(Decision.decided_at >= flt.date_from)
    if flt.date_to is not None:
        conditions.append(Decision.decided_at < flt.date_to)
    stmt = (
        select(
            Submission.id.label("submission_id"),
            Submission.tenant_id,
            Submission.external_id,
            Submission.image_sha256,
            PolicyVersion.slug.label("policy_slug"),
            Submission.policy_version,
            Decision.action,
            Decision.rating,
            Decision.category,
            Decision.decided_at,
            _reason(sample_rate).label("reason"),
        )
        .join(Decision, Decision.submission_id == Submission.id)
        .join(PolicyVersion, PolicyVersion.version == Submission.policy_version)
        .where(*conditions)
    )
    return stmt.subquery("candidates")


def queue_counts(
    session: Session, flt: QueueFilter, sample_rate: float, viewer: uuid.UUID | None
) -> dict[Reason, int]:
    """Queued items per reason under the filter (its ``reason`` aside: the tabs' counts)."""
    cand = _candidates(flt, sample_rate, viewer)
    stmt = (
        select(cand.c.reason, func.count())
        .where(cand.c.reason.is_not(None))
        .group_by(cand.c.reason)
    )
    found = {reason: int(n) for reason, n in session.execute(stmt)}
    return {reason: found.get(reason, 0) for reason in REASONS}


def queue_items(
    session: Session,
    flt: QueueFilter,
    sample_rate: float,
    viewer: uuid.UUID | None,
    offset: int,
    limit: int,
) -> list[QueueItem]:
    """One page of the queue: appeals first, then model reviews, then the sample; oldest
    decision first within each; with the live claim on each item, if any."""
    cand = _candidates(flt, sample_rate, viewer)
    priority = case({r: i for i, r in enumerate(REASONS)}, value=cand.c.reason)
    live_claim = and_(
        ReviewClaim.submission_id == cand.c.submission_id, ReviewClaim.expires_at >= func.now()
    )
    stmt: Select[Any] = (
        select(cand, ReviewClaim.reviewer, ReviewClaim.expires_at)
        .outerjoin(ReviewClaim, live_claim)
        .where(cand.c.reason.is_not(None))
        .order_by(priority, cand.c.decided_at, cand.c.submission_id)
        .offset(offset)
        .limit(limit)
    )
    if flt.reason is not None:
        stmt = stmt.where(cand.c.reason == flt.reason)
    return [QueueItem(*row) for row in session.execute(stmt)]


def decided_submission(
    session: Session, submission_id: uuid.UUID, viewer: uuid.UUID | None
) -> tuple[Submission, Image, Decision] | None:
    """A decided submission with its image and decision, if this viewer (a tenant, or
    ``None`` for all tenants) may see it."""
    stmt = (
        select(Submission, Image, Decision)
        .join(Image, Image.sha256 == Submission.image_sha256)
        .join(Decision, Decision.submission_id == Submission.id)
        .where(Submission.id == submission_id)
    )
    if viewer is not None:
        stmt = stmt.where(Submission.tenant_id == viewer)
    row = session.execute(stmt).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


class Claim(NamedTuple):
    """Who holds a queue item, since when, until when."""

    reviewer: str
    claimed_at: datetime
    expires_at: datetime


_CLAIM_COLUMNS = (ReviewClaim.reviewer, ReviewClaim.claimed_at, ReviewClaim.expires_at)


def claim(session: Session, submission_id: uuid.UUID, reviewer: str, ttl_s: int) -> Claim | None:
    """Take (or renew) the item in ONE statement: it succeeds only when the item is unclaimed,
    its claim expired, or the same reviewer holds it; None when someone else holds it."""
    stmt = insert(ReviewClaim).values(
        submission_id=submission_id,
        reviewer=reviewer,
        claimed_at=func.now(),
        expires_at=func.now() + timedelta(seconds=ttl_s),
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[ReviewClaim.submission_id],
        set_={c: stmt.excluded[c] for c in ("reviewer", "claimed_at", "expires_at")},
        where=or_(
            ReviewClaim.expires_at < func.now(), ReviewClaim.reviewer == stmt.excluded.reviewer
        ),
    ).returning(*_CLAIM_COLUMNS)
    row = session.execute(upsert).one_or_none()
    return None if row is None else Claim(*row)


def live_claim(session: Session, submission_id: uuid.UUID, *, lock: bool = False) -> Claim | None:
    """The unexpired claim on the item, if any (``lock``: row-locked until the transaction
    ends, so it cannot change hands meanwhile)."""
    stmt = select(*_CLAIM_COLUMNS).where(
        ReviewClaim.submission_id == submission_id, ReviewClaim.expires_at >= func.now()
    )
    if lock:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).one_or_none()
    return None if row is None else Claim(*row)


def release(session: Session, submission_id: uuid.UUID, reviewer: str) -> bool:
    """Drop the reviewer's claim on the item; False when they held none."""
    stmt = delete(ReviewClaim).where(
        ReviewClaim.submission_id == submission_id, ReviewClaim.reviewer == reviewer
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
