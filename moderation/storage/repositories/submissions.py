"""Images, submissions and their status transitions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, Uuid, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.storage.models import Decision, Image, Policy, Submission

QUEUED, PROCESSING, DECIDED, FAILED = "queued", "processing", "decided", "failed"
FINAL = (DECIDED, FAILED)


def _now() -> datetime:
    return datetime.now(UTC)


def add_image(
    session: Session, sha256: str, size_bytes: int, width: int, height: int, fmt: str
) -> None:
    """Record an image's metadata once per distinct content."""
    stmt = (
        insert(Image)
        .values(sha256=sha256, size_bytes=size_bytes, width=width, height=height, format=fmt)
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    session.execute(stmt)


class Received(NamedTuple):
    """A stored submission, as the intake reports it."""

    id: uuid.UUID
    policy_version: str
    created_at: datetime


def add_under_active_policy(
    session: Session,
    tenant_id: uuid.UUID,
    image_sha256: str,
    policy_slug: str,
    external_id: str | None,
) -> Received | None:
    """Insert a queued submission under the active version of ``policy_slug`` (one statement);
    None when no such policy exists."""
    values: dict[str, Any] = {
        "id": literal(uuid.uuid4(), Uuid()),
        "tenant_id": literal(tenant_id, Uuid()),
        "external_id": literal(external_id, String()),
        "image_sha256": literal(image_sha256, String()),
        "policy_version": Policy.active_version,
        "status": literal(QUEUED, String()),
        "attempts": literal(0, Integer()),
        "enqueue_count": literal(1, Integer()),
    }
    source = select(*values.values()).where(Policy.slug == policy_slug)
    stmt = (
        insert(Submission)
        .from_select(list(values), source)
        .returning(Submission.id, Submission.policy_version, Submission.created_at)
    )
    row = session.execute(stmt).one_or_none()
    return None if row is None else Received(*row)


def get_for_tenant(
    session: Session, submission_id: uuid.UUID, tenant_id: uuid.UUID
) -> tuple[Submission, Image, Decision | None] | None:
    """A tenant's submission with its image and decision; None for unknown or foreign ids."""
    stmt = (
        select(Submission, Image, Decision)
        .join(Image, Image.sha256 == Submission.image_sha256)
        .outerjoin(Decision, Decision.submission_id == Submission.id)
        .where(Submission.id == submission_id, Submission.tenant_id == tenant_id)
    )
    row = session.execute(stmt).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


def lock(session: Session, submission_id: uuid.UUID) -> Submission | None:
    """The submission, row-locked for the rest of the transaction."""
    return session.get(Submission, submission_id, with_for_update=True)


class SubmissionRef(NamedTuple):
    """The columns the worker needs of a submission it holds."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    image_sha256: str
    policy_version: str
    attempts: int


_REF = (
    Submission.id,
    Submission.tenant_id,
    Submission.image_sha256,
    Submission.policy_version,
    Submission.attempts,
)
_NO_SYNC = {"synchronize_session": False}


def start_attempts(
    session: Session, ids: Sequence[uuid.UUID], max_attempts: int
) -> list[SubmissionRef]:
    """Claim the open submissions under the attempt cap: processing, attempt counted (one
    statement; the row locks hold until commit)."""
    if not ids:
        return []
    stmt = (
        update(Submission)
        .where(
            Submission.id.in_(ids),
            Submission.status.in_((QUEUED, PROCESSING)),
            Submission.attempts < max_attempts,
        )
        .values(status=PROCESSING, attempts=Submission.attempts + 1, updated_at=_now())
        .returning(*_REF)
    )
    return [SubmissionRef(*row) for row in session.execute(stmt, execution_options=_NO_SYNC)]


def close_decided(session: Session, ids: Sequence[uuid.UUID]) -> list[SubmissionRef]:
    """Mark the still-open ones of these submissions decided; returns those (one statement)."""
    if not ids:
        return []
    stmt = (
        update(Submission)
        .where(Submission.id.in_(ids), Submission.status.not_in(FINAL))
        .values(status=DECIDED, error=None, updated_at=_now())
        .returning(*_REF)
    )
    return [SubmissionRef(*row) for row in session.execute(stmt, execution_options=_NO_SYNC)]


def get_many(session: Session, ids: Sequence[uuid.UUID]) -> list[Submission]:
    """Submissions by id (no lock)."""
    return list(session.scalars(select(Submission).where(Submission.id.in_(ids))))


def finish(session: Session, submission: Submission, status: str, error: str | None) -> None:
    """Move a submission to a final status."""
    submission.status = status
    submission.error = error
    submission.updated_at = _now()
    session.flush()


def stuck(session: Session, older_than_s: int, limit: int = 500) -> list[Submission]:
    """Row-locked submissions left in queued/processing longer than ``older_than_s``."""
    stmt = (
        select(Submission)
        .where(
            Submission.status.in_((QUEUED, PROCESSING)),
            Submission.updated_at < _now() - timedelta(seconds=older_than_s),
        )
        .order_by(Submission.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def requeue(session: Session, submission: Submission) -> None:
    """Put a stuck submission back to queued and count the re-enqueue."""
    session.execute(
        update(Submission)
        .where(Submission.id == submission.id)
        .values(status=QUEUED, enqueue_count=Submission.enqueue_count + 1, updated_at=_now())
    )
