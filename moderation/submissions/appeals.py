"""Appeals: a platform asks for a human review of a decision; it joins the review queue."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.submissions import appeal_repository as appeals
from moderation.submissions import repository as submissions
from moderation.submissions.models import Appeal


class NotFound(LookupError):
    """No such submission for this tenant."""


class NotAppealable(Exception):
    """The submission cannot be appealed now (not decided yet, or an appeal is open)."""


def file_appeal(
    session: Session, tenant_id: uuid.UUID, submission_id: uuid.UUID, reason: str
) -> Appeal:
    """Open an appeal against a tenant's decided submission, and audit it."""
    found = submissions.get_for_tenant(session, submission_id, tenant_id)
    if found is None:
        raise NotFound(submission_id)
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
