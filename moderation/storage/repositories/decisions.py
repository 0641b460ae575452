"""Decisions: one per submission, written idempotently and set-based."""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.storage.models import Decision

_TABLE = cast(Table, Decision.__table__)


def add_many_once(session: Session, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert decisions, skipping submissions that already have one; returns those written."""
    if not rows:
        return set()
    table = _TABLE
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["submission_id"])
        .returning(table.c.submission_id)
    )
    # executemany: one cached statement, sent as a single multi-row INSERT ("insertmanyvalues")
    return set(session.execute(stmt, rows).scalars())


def model_verdicts(session: Session, verdict_keys: list[str]) -> dict[str, Decision]:
    """For each key, the earliest decision whose verdict the model produced for it."""
    if not verdict_keys:
        return {}
    stmt = (
        select(Decision)
        .where(Decision.verdict_key.in_(set(verdict_keys)), Decision.source == "model")
        .order_by(Decision.decided_at.desc())
    )
    return {d.verdict_key: d for d in session.scalars(stmt) if d.verdict_key}
