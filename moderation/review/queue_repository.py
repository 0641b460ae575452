"""The review queue: decided submissions that need a human, filtered and paged, and the
claims that lock an item to one reviewer at a time."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.accounts.models import Tenant
from moderation.banks.models import BankMatch
from moderation.policies.models import PolicyVersion
from moderation.review.models import ReviewClaim
from moderation.submissions.models import SAMPLE_BUCKET, Appeal, Decision, Image, Submission

Rows = Select[*tuple[Any, ...]]  # a select of any columns
Reason = Literal["appeal", "hash_match", "review", "sample"]
# also the queue's priority order
REASONS: tuple[Reason, ...] = ("appeal", "hash_match", "review", "sample")
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
    tenant_name: str
    appeal_reason: str | None  # of the open appeal, if any


def _model(value: str) -> ColumnElement[Any]:
    """A constant written into the SQL text (not a parameter), so that the planner can match
    the partial indexes of the queue whatever plan it caches."""
    return literal_column(f"'{value}'")


def _decisions(flt: QueueFilter, viewer: uuid.UUID | None, reason: Reason) -> Rows:
    """Decided submissions under the filter as ``(submission_id, decided_at, reason)``, joined
    to the submission and its policy version only where the filter needs them."""
    on_decision = [
        column == value
        for column, value in (
            (Decision.category, flt.category),
            (Decision.rating, flt.rating),
            (Decision.action, flt.action),
        )
        if value is not None
    ]
    if flt.date_from is not None:
        on_decision.append(Decision.decided_at >= flt.date_from)
    if flt.date_to is not None:
        on_decision.append(Decision.decided_at < flt.date_to)
    stmt: Rows = select(
        Decision.submission_id, Decision.decided_at, literal_column(f"'{reason}'").label("reason")
    ).where(*on_decision)
    tenants = [t for t in (flt.tenant_id, viewer) if t is not None]
    if tenants or flt.policy_slug is not None:
        stmt = stmt.join(Submission, Submission.id == Decision.submission_id).where(
            *(Submission.tenant_id == t for t in tenants)
        )
    if flt.policy_slug is not None:
        stmt = stmt.join(PolicyVersion, PolicyVersion.version == Submission.policy_version)
        stmt = stmt.where(PolicyVersion.slug == flt.policy_slug)
    return stmt


def _branches(
    flt: QueueFilter, sample_rate: float, viewer: uuid.UUID | None, reasons: Sequence[Reason]
) -> list[Rows]:
    """Why a decided submission needs a human, one query each, in priority order: an open
    appeal; a model decision whose action is ``review``; the quality sample of the model's
    automatic (allow/block) decisions; an allowed one that a bank entry added later matches
    (``hash_match``, the backfill of moderation.banks). A reviewed decision is the reviewer's
    (``decided_by``), so it leaves the queue. Each query reads its own (partial) index of
    ``decisions``. The sample is a stable hash of the submission id, so membership never
    changes between page loads."""
    open_appeal = and_(
        Appeal.submission_id == Decision.submission_id, Appeal.status == _model("open")
    )
    by_model = Decision.decided_by == _model("model")
    threshold: ColumnElement[Any] = literal_column(str(round(sample_rate * SAMPLE_BUCKETS)))
    branches = {
        "appeal": lambda: _decisions(flt, viewer, "appeal").join(Appeal, open_appeal),
        "hash_match": lambda: (
            _decisions(flt, viewer, "hash_match")
            .join(BankMatch, BankMatch.submission_id == Decision.submission_id)
            .where(by_model, ~exists().where(open_appeal))
        ),
        "review": lambda: _decisions(flt, viewer, "review").where(
            by_model, Decision.action == _model("review"), ~exists().where(open_appeal)
        ),
        "sample": lambda: _decisions(flt, viewer, "sample").where(
            by_model,
            Decision.model_action.in_([_model("allow"), _model("block")]),
            literal_column(SAMPLE_BUCKET) < threshold,
            ~exists().where(open_appeal),
            ~exists().where(BankMatch.submission_id == Decision.submission_id),
        ),
    }
    return [branches[r]() for r in reasons]


def queue_counts(
    session: Session, flt: QueueFilter, sample_rate: float, viewer: uuid.UUID | None
) -> dict[Reason, int]:
    """Queued items per reason under the filter (its ``reason`` aside: the tabs' counts)."""
    cand = union_all(*_branches(flt, sample_rate, viewer, REASONS)).subquery("candidates")
    stmt = select(cand.c.reason, func.count()).group_by(cand.c.reason)
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
    decision first within each; with the live claim on each item, if any. Each reason
    contributes at most ``offset + limit`` items, read in order from its index, before the
    page's rows are joined to their submissions."""
    reasons = [flt.reason] if flt.reason else list(REASONS)
    firsts = [
        branch.order_by(Decision.decided_at, Decision.submission_id).limit(offset + limit)
        for branch in _branches(flt, sample_rate, viewer, reasons)
    ]
    page = union_all(*firsts).subquery("page")
    priority = case({r: i for i, r in enumerate(REASONS)}, value=page.c.reason)
    live_claim = and_(
        ReviewClaim.submission_id == page.c.submission_id, ReviewClaim.expires_at >= func.now()
    )
    stmt: Select[Any] = (
        select(
            page.c.submission_id,
            Submission.tenant_id,
            Submission.external_id,
            Submission.image_sha256,
            PolicyVersion.slug,
            Submission.policy_version,
            Decision.action,
            Decision.rating,
            Decision.category,
            page.c.decided_at,
            page.c.reason,
            ReviewClaim.reviewer,
            ReviewClaim.expires_at,
            Tenant.name,
            Appeal.reason,
        )
        .join(Submission, Submission.id == page.c.submission_id)
        .join(Tenant, Tenant.id == Submission.tenant_id)
        .join(Decision, Decision.submission_id == page.c.submission_id)
        .join(PolicyVersion, PolicyVersion.version == Submission.policy_version)
        .outerjoin(ReviewClaim, live_claim)
        .outerjoin(
            Appeal,
            and_(Appeal.submission_id == page.c.submission_id, Appeal.status == _model("open")),
        )
        .order_by(priority, page.c.decided_at, page.c.submission_id)
        .offset(offset)
        .limit(limit)
    )
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


def tenant_name(session: Session, tenant_id: uuid.UUID) -> str:
    """The tenant's name (its id when it has none)."""
    name = session.scalar(select(Tenant.name).where(Tenant.id == tenant_id))
    return name or str(tenant_id)
