"""Appeals: a platform's requests for a human review of a decision."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from moderation.submissions.models import Appeal

OPEN = "open"


def add(session: Session, submission_id: uuid.UUID, tenant_id: uuid.UUID, reason: str) -> Appeal:
    """A new open appeal (the partial unique index allows one open appeal per submission)."""
    appeal = Appeal(submission_id=submission_id, tenant_id=tenant_id, reason=reason, status=OPEN)
    session.add(appeal)
    session.flush()
    session.refresh(appeal)
    return appeal


def open_for(session: Session, submission_id: uuid.UUID) -> Appeal | None:
    """The submission's open appeal, if any."""
    stmt = select(Appeal).where(Appeal.submission_id == submission_id, Appeal.status == OPEN)
    return session.scalars(stmt).one_or_none()


def latest(session: Session, submission_id: uuid.UUID) -> Appeal | None:
    """The submission's most recent appeal, if any."""
    stmt = (
        select(Appeal)
        .where(Appeal.submission_id == submission_id)
        .order_by(Appeal.created_at.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def for_submission(session: Session, submission_id: uuid.UUID) -> list[Appeal]:
    """The submission's appeals, oldest first."""
    stmt = (
        select(Appeal)
        .where(Appeal.submission_id == submission_id)
        .order_by(Appeal.created_at, Appeal.id)
    )
    return list(session.scalars(stmt))


def resolve(session: Session, appeal: Appeal, status: str, note: str) -> None:
    """Close an open appeal as ``upheld`` or ``overturned``, with the reviewer's note."""
    appeal.status = status
    appeal.resolution_note = note
    appeal.resolved_at = func.now()  # type: ignore[assignment]
    session.flush()
    session.refresh(appeal, ["resolved_at"])


def reopen(session: Session, appeal_id: uuid.UUID) -> None:
    """Open a resolved appeal again (its review was undone)."""
    appeal = session.get(Appeal, appeal_id)
    if appeal is not None:
        appeal.status = OPEN
        appeal.resolution_note = None
        appeal.resolved_at = None
        session.flush()
