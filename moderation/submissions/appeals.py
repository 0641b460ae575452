"""A platform's view of its submissions: reading one, and appealing its decision (a human
review; the appeal joins the review queue)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.storage.db import session_scope, statement_scope
from moderation.submissions import appeal_repository as appeals
from moderation.submissions import repository as submissions
from moderation.submissions.models import Appeal, Decision, Image, Submission


class SubmissionNotFound(LookupError):
    """No such submission for this tenant."""


class NotAppealable(Exception):
    """The submission cannot be appealed now (not decided yet, or an appeal is open)."""


def file_appeal(
    session: Session, tenant_id: uuid.UUID, submission_id: uuid.UUID, reason: str
) -> Appeal:
    """Open an appeal against a tenant's decided submission, and audit it."""
    found = submissions.get_for_tenant(session, submission_id, tenant_id)
    if found is None:
        raise SubmissionNotFound(submission_id)
    submission, _, decision = found
    if decision is None:
        raise NotAppealable(
            f"moderation '{submission_id}' is {submission.status}: only a decision can be appealed"
        )
    submissions.lock(session, submission_id)  # one appeal at a time per submission
    if appeals.open_for(session, submission_id) is not None:
        raise NotAppealable(f"moderation '{submission_id}' already has an open appeal")
    appeal = appeals.add(session, submission_id, tenant_id, reason)
    audit.append(
        session,
        tenant_id=tenant_id,
        subject_type="submission",
        subject_id=str(submission_id),
        event="appeal.filed",
        actor="api",
        data={"appeal_id": str(appeal.id), "reason": reason},
    )
    return appeal


def latest_appeal(session: Session, submission_id: uuid.UUID) -> Appeal | None:
    """The submission's most recent appeal, if any."""
    return appeals.latest(session, submission_id)


def appeal_decision(
    db_url: str, tenant_id: uuid.UUID, submission_id: uuid.UUID, reason: str
) -> Appeal:
    """:func:`file_appeal` in a transaction of its own."""
    with session_scope(db_url) as session:
        return file_appeal(session, tenant_id, submission_id, reason)


def read_submission(
    db_url: str, submission_id: uuid.UUID, tenant_id: uuid.UUID
) -> tuple[Submission, Image, Decision | None, Appeal | None] | None:
    """A tenant's submission with its image, decision and latest appeal (None: not the tenant's)."""
    with statement_scope(db_url) as session:
        found = submissions.get_for_tenant(session, submission_id, tenant_id)
        if found is None:
            return None
        return (*found, latest_appeal(session, submission_id))
