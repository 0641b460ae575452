"""Decisions: one per submission, written idempotently and set-based."""

from __future__ import annotations

import json
import uuid
from typing import Any, cast

from sqlalchemy import Table, select, text
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.orm import Session

from moderation.storage.models import AuditEvent, Decision

_TABLE = cast(Table, Decision.__table__)


def _recordset(table: Table, columns: list[str]) -> str:
    """``jsonb_to_recordset`` column definitions for these columns of ``table``."""
    dialect = PGDialect()  # type: ignore[no-untyped-call]
    return ", ".join(f"{c} {table.c[c].type.compile(dialect)}" for c in columns)


_DECISION_COLS = [c.name for c in _TABLE.c if c.name != "decided_at"]
_EVENT_COLS = ["tenant_id", "subject_type", "subject_id", "event", "actor", "data"]
_CLOSE_AND_RECORD = text(
    f"""
    WITH closed AS (
        UPDATE submissions SET status = 'decided', error = NULL, updated_at = now()
        WHERE id = ANY(CAST(:ids AS uuid[])) AND status NOT IN ('decided', 'failed')
        RETURNING id
    ), written AS (
        INSERT INTO decisions ({", ".join(_DECISION_COLS)})
        SELECT {", ".join(_DECISION_COLS)}
        FROM jsonb_to_recordset(CAST(:rows AS jsonb))
            AS r({_recordset(_TABLE, _DECISION_COLS)})
        WHERE r.submission_id IN (SELECT id FROM closed)
        ON CONFLICT (submission_id) DO NOTHING
        RETURNING submission_id
    ), audited AS (
        INSERT INTO audit_events ({", ".join(_EVENT_COLS)})
        SELECT {", ".join(_EVENT_COLS)}
        FROM jsonb_to_recordset(CAST(:events AS jsonb))
            AS e({_recordset(cast(Table, AuditEvent.__table__), _EVENT_COLS)})
        WHERE CAST(e.subject_id AS uuid) IN (SELECT submission_id FROM written)
    )
    SELECT submission_id FROM written
    """
)


def close_and_record(
    session: Session, rows: list[dict[str, Any]], events: list[dict[str, Any]]
) -> set[uuid.UUID]:
    """Close the still-open submissions of ``rows`` as decided and insert their decisions
    with one audit event each (``events``, keyed by ``subject_id`` = submission id), in ONE
    statement; returns the submissions decided now. A submission already final (another
    delivery, the sweeper) or already holding a decision gets nothing."""
    if not rows:
        return set()
    params = {
        "ids": [str(r["submission_id"]) for r in rows],
        "rows": json.dumps(rows, default=str),
        "events": json.dumps(events, default=str),
    }
    return set(session.execute(_CLOSE_AND_RECORD, params).scalars())


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


def set_by_reviewer(
    session: Session, decision: Decision, action: str, rating: str, category: str | None
) -> None:
    """A reviewer's action, rating and category replace the current ones; the model's own
    (``model_action``, ``model_category``, ``verdict``, ``raw_text``, ``scores``) stay."""
    decision.action = action
    decision.rating = rating
    decision.category = category
    decision.decided_by = "reviewer"
    session.flush()
