"""Reviews: a reviewer's confirm/overturn of a model decision (the ground truth of backtests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, NamedTuple

from sqlalchemy import Subquery, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from moderation.policies.models import PolicyVersion
from moderation.review.models import Review
from moderation.submissions.models import Decision, Submission

Outcome = Literal["confirm", "overturn"]


def add_review(
    session: Session,
    *,
    decision_id: uuid.UUID,
    reviewer: str,
    outcome: Outcome,
    action: str | None = None,
    rating: str | None = None,
    category: str | None = None,
    note: str = "",
) -> Review:
    """Record a review of a decision. ``confirm`` takes the decision's action, rating and category
    unless given; ``overturn`` needs the reviewer's ``action`` and ``rating`` (and ``category``
    when unsafe). LookupError for an unknown decision, ValueError for an incomplete overturn."""
    decision = session.get(Decision, decision_id)
    if decision is None:
        raise LookupError(f"no decision {decision_id}")
    if outcome == "confirm":
        action = action or decision.action
        rating = rating or decision.rating
        category = category if category is not None else decision.category
    elif outcome != "overturn":
        raise ValueError(f"outcome must be confirm or overturn, not {outcome!r}")
    if action is None or rating is None:
        raise ValueError("an overturn needs the reviewer's action and rating")
    review = Review(
        id=uuid.uuid4(),
        submission_id=decision.submission_id,
        decision_id=decision.id,
        reviewer=reviewer,
        outcome=outcome,
        action=action,
        rating=rating,
        category=None if rating == "safe" else category,
        note=note,
    )
    session.add(review)
    session.flush()
    return review


def latest_for(session: Session, submission_id: uuid.UUID) -> Review | None:
    """The submission's latest review (the one a reviewer may undo), if any."""
    stmt = (
        select(Review)
        .where(Review.submission_id == submission_id)
        .order_by(Review.created_at.desc(), Review.id)
        .limit(1)
    )
    return session.scalars(stmt).first()


def age_s(session: Session, review: Review) -> float:
    """Seconds since the review was written, by the database's clock."""
    seconds = session.scalar(select(func.extract("epoch", func.now() - review.created_at)))
    return float(seconds or 0)


def delete_review(session: Session, review: Review) -> None:
    """Remove an undone review (its audit events stay)."""
    session.delete(review)
    session.flush()


def _latest_reviews() -> Subquery:
    """The latest review of each reviewed submission (the human's final word on it)."""
    return (
        select(Review)
        .ext(distinct_on(Review.submission_id))
        .order_by(Review.submission_id, Review.created_at.desc(), Review.id)
        .subquery()
    )


class GroundTruth(NamedTuple):
    """A reviewed submission of a policy: its image and what the reviewer decided."""

    submission_id: uuid.UUID
    image_sha256: str
    rating: str
    category: str | None
    purged: bool  # its image was deleted (retention, erasure): it cannot be run again


def ground_truth(
    session: Session, slug: str, limit: int, tenant_id: uuid.UUID | None = None
) -> list[GroundTruth]:
    """The latest review of each reviewed submission made under any version of ``slug`` (of
    one tenant, if given), most recently reviewed first."""
    latest = _latest_reviews()
    stmt = (
        select(Submission.id, Submission.image_sha256, latest.c.rating, latest.c.category)
        .add_columns(Submission.image_purged_at.is_not(None))
        .join(latest, latest.c.submission_id == Submission.id)
        .join(PolicyVersion, PolicyVersion.version == Submission.policy_version)
        .where(PolicyVersion.slug == slug)
        .order_by(latest.c.created_at.desc(), Submission.id)
        .limit(limit)
    )
    if tenant_id is not None:
        stmt = stmt.where(Submission.tenant_id == tenant_id)
    return [GroundTruth(*row) for row in session.execute(stmt)]


def for_submission(session: Session, submission_id: uuid.UUID) -> list[Review]:
    """The submission's reviews, oldest first."""
    stmt = (
        select(Review)
        .where(Review.submission_id == submission_id)
        .order_by(Review.created_at, Review.id)
    )
    return list(session.scalars(stmt))


class AgreementCell(NamedTuple):
    """How many reviewed decisions of a policy version, decided on one day, the model and
    the latest reviewer judged this way."""

    policy_version: str
    day: date
    model_action: str
    model_category: str | None
    reviewer_action: str
    reviewer_category: str | None
    n: int


@dataclass(frozen=True)
class AgreementFilter:
    """Which reviewed decisions to measure; ``None`` means any. Dates bound the decision's
    ``decided_at`` (from inclusive, to exclusive); a tenant-scoped viewer sets ``tenant_id``."""

    policy_slug: str | None = None
    policy_version: str | None = None
    tenant_id: uuid.UUID | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None


def agreement_cells(session: Session, flt: AgreementFilter) -> list[AgreementCell]:
    """Model vs latest review of every reviewed decision under the filter, grouped; days are
    UTC days of ``decided_at``."""
    latest = _latest_reviews()
    day = func.date(func.timezone("UTC", Decision.decided_at))
    columns = (
        Submission.policy_version,
        day,
        Decision.model_action,
        Decision.model_category,
        latest.c.action,
        latest.c.category,
    )
    stmt = (
        select(*columns, func.count())
        .select_from(Decision)
        .join(latest, latest.c.decision_id == Decision.id)
        .join(Submission, Submission.id == Decision.submission_id)
        .join(PolicyVersion, PolicyVersion.version == Submission.policy_version)
        .group_by(*columns)
        .order_by(day, Submission.policy_version)
    )
    for column, value in (
        (PolicyVersion.slug, flt.policy_slug),
        (Submission.policy_version, flt.policy_version),
        (Submission.tenant_id, flt.tenant_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if flt.date_from is not None:
        stmt = stmt.where(Decision.decided_at >= flt.date_from)
    if flt.date_to is not None:
        stmt = stmt.where(Decision.decided_at < flt.date_to)
    return [AgreementCell(*row) for row in session.execute(stmt)]
