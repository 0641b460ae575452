"""Searching the audit trail, as the console's audit page does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from moderation.audit import repository as audit
from moderation.audit.models import AuditEvent
from moderation.storage.db import read_scope


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page searches by; ``tenant_id`` None = every tenant (global users)."""

    tenant_id: uuid.UUID | None = None
    subject_id: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search_trail(db_url: str, where: AuditFilter, *, limit: int, offset: int) -> list[AuditEvent]:
    """Events matching ``where``, newest first, in a read transaction of their own."""
    with read_scope(db_url) as session:
        return audit.search(session, where, limit=limit, offset=offset)
