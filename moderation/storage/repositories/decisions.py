"""Decisions: one per submission, written idempotently."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.storage.models import Decision


def add_once(session: Session, submission_id: uuid.UUID, **fields: Any) -> bool:
    """Insert the decision of a submission unless one exists; True when this call wrote it."""
    stmt = (
        insert(Decision)
        .values(id=uuid.uuid4(), submission_id=submission_id, **fields)
        .on_conflict_do_nothing(index_elements=["submission_id"])
        .returning(Decision.id)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def find_model_verdict(session: Session, verdict_key: str) -> Decision | None:
    """A decision whose verdict the model produced for exactly this verdict key."""
    stmt = (
        select(Decision)
        .where(Decision.verdict_key == verdict_key, Decision.source == "model")
        .order_by(Decision.decided_at)
        .limit(1)
    )
    return session.scalar(stmt)
