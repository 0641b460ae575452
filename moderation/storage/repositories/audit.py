"""The audit trail: append-only events."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from moderation.storage.models import AuditEvent

_TABLE = cast(Table, AuditEvent.__table__)


def append(
    session: Session,
    *,
    tenant_id: uuid.UUID | None,
    subject_type: str,
    subject_id: str,
    event: str,
    actor: str,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one audit event."""
    append_many(
        session,
        [
            {
                "tenant_id": tenant_id,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "event": event,
                "actor": actor,
                "data": data or {},
            }
        ],
    )


def append_many(session: Session, events: list[dict[str, Any]]) -> None:
    """Append audit events in one statement (keys as in :func:`append`)."""
    if events:
        session.execute(insert(_TABLE), [{"data": {}, **e} for e in events])


def for_subject(session: Session, subject_type: str, subject_id: str) -> list[AuditEvent]:
    """A subject's events, oldest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
        .order_by(AuditEvent.id)
    )
    return list(session.scalars(stmt))
