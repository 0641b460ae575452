"""Decisions: one per submission, written idempotently and set-based."""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ARRAY,
    Select,
    Table,
    Uuid,
    any_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.audit.models import AuditEvent
from moderation.outbox import repository as outbox
from moderation.storage.recordsets import table_recordset
from moderation.submissions.models import Decision, Submission
from moderation.submissions.types import FINAL, Status
from moderation.webhooks import message_repository as webhook_messages

_TABLE = cast(Table, Decision.__table__)


_DECISION_COLS = [c.name for c in _TABLE.c if c.name != "decided_at"]
_EVENTS = cast(Table, AuditEvent.__table__)
_EVENT_COLS = ["tenant_id", "subject_type", "subject_id", "event", "actor", "data"]
_SUBMISSIONS = cast(Table, Submission.__table__)


class Fanout(NamedTuple):
    """The webhook event to queue for every submission decided (and its delivery task)."""

    event: str
    task: str
    queue: str


@lru_cache(maxsize=8)
def _close_and_record(fanout: Fanout | None) -> Select[Any]:
    """The record statement, built once per fanout: parameters ``ids``, ``rows``, ``events``."""
    closed = (
        update(_SUBMISSIONS)
        .where(
            _SUBMISSIONS.c.id == any_(bindparam("ids", type_=ARRAY(Uuid()))),
            _SUBMISSIONS.c.status.not_in(FINAL),
        )
        .values(status=Status.DECIDED, error=None, updated_at=func.now())
        .returning(_SUBMISSIONS.c.id)
        .cte("closed")
    )
    rows = table_recordset("r", "rows", _TABLE, _DECISION_COLS)
    written = (
        insert(_TABLE)
        .from_select(
            _DECISION_COLS,
            select(*(rows.c[c] for c in _DECISION_COLS)).where(
                rows.c.submission_id.in_(select(closed.c.id))
            ),
        )
        .on_conflict_do_nothing(index_elements=["submission_id"])
        .returning(_TABLE.c.submission_id)
        .cte("written")
    )
    events = table_recordset("e", "events", _EVENTS, _EVENT_COLS)
    audited = insert(_EVENTS).from_select(
        _EVENT_COLS,
        select(*(events.c[c] for c in _EVENT_COLS))
        .where(events.c.subject_id.cast(Uuid()).in_(select(written.c.submission_id)))
        # after every row lock of ``closed``, and in chain order (see audit.lock_chains)
        .order_by(events.c.tenant_id),
    )
    stmt = select(written.c.submission_id)
    ctes = [audited.cte("audited")]
    if fanout is not None:
        messages = webhook_messages.add_for_event(fanout.event, select(written.c.submission_id))
        deliveries = outbox.per_row(fanout.task, fanout.queue, "message_id", messages)
        stmt = stmt.add_columns(outbox.notify_if_any(deliveries))
        ctes.append(deliveries)
    return stmt.add_cte(*ctes)


def close_and_record(
    session: Session,
    rows: list[dict[str, Any]],
    events: list[dict[str, Any]],
    fanout: Fanout | None = None,
) -> dict[uuid.UUID, str]:
    """Close the still-open submissions of ``rows`` as decided and insert their decisions
    with one audit event each (``events``, keyed by ``subject_id`` = submission id), and
    queue ``fanout``'s webhook messages for them, in ONE statement; returns the submissions
    decided now, with their actions. A submission already final (another delivery, the
    sweeper) or already holding a decision gets nothing. With no rows it writes nothing (a
    warm-up)."""
    params = {
        "ids": [r["submission_id"] for r in rows],
        "rows": json.dumps(rows, default=str),
        "events": json.dumps(events, default=str),
    }
    actions = {r["submission_id"]: r["action"] for r in rows}
    return {row[0]: actions[row[0]] for row in session.execute(_close_and_record(fanout), params)}


def model_verdicts(
    session: Session, verdict_keys: list[str]
) -> dict[str, tuple[Decision, uuid.UUID]]:
    """For each key, the earliest decision whose verdict the model produced for it, and the
    tenant of its submission."""
    if not verdict_keys:
        return {}
    stmt = (
        select(Decision, Submission.tenant_id)
        .join(Submission, Submission.id == Decision.submission_id)
        .where(Decision.verdict_key.in_(set(verdict_keys)), Decision.source == "model")
        .order_by(Decision.decided_at.desc())
    )
    return {d.verdict_key: (d, t) for d, t in session.execute(stmt) if d.verdict_key}


def set_by_reviewer(
    session: Session,
    decision: Decision,
    action: str,
    rating: str,
    category: str | None,
    decided_by: str = "reviewer",
) -> None:
    """A reviewer's action, rating and category replace the current ones (``decided_by``
    "model" when an undone review puts the model's back); the model's own (``model_action``,
    ``model_category``, ``verdict``, ``raw_text``, ``scores``) stay."""
    decision.action = action
    decision.rating = rating
    decision.category = category
    decision.decided_by = decided_by
    session.flush()
