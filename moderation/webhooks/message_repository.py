"""Webhook messages (one event for one endpoint) and their delivery attempts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import CTE, ColumnElement, Select, String, any_, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.submissions.models import Submission
from moderation.webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"


def add_for_event(event: str, submission_ids: Sequence[uuid.UUID] | Select[Any]) -> CTE:
    """An INSERT … SELECT (as a CTE of the new ids): one pending message per enabled endpoint of
    each submission's tenant that subscribes to ``event``. No endpoint, no row."""
    rows = (
        select(
            func.gen_random_uuid(),
            WebhookEndpoint.id,
            literal(event, String()),
            Submission.id,
            literal(PENDING, String()),
        )
        .join_from(Submission, WebhookEndpoint, WebhookEndpoint.tenant_id == Submission.tenant_id)
        .where(
            Submission.id.in_(submission_ids),
            WebhookEndpoint.enabled.is_(True),
            literal(event, String()) == any_(WebhookEndpoint.events),
        )
    )
    columns = ["id", "endpoint_id", "event", "submission_id", "status"]
    stmt = insert(WebhookMessage).from_select(columns, rows).returning(WebhookMessage.id)
    return stmt.cte("new_webhook_messages")


def mark_overdue_for_resend(grace_s: float, limit: int = 500) -> CTE:
    """An UPDATE (as a CTE of the ids) that takes pending messages due more than ``grace_s``
    ago (their task was lost) and restarts their clock, so one sweep re-sends each once."""
    overdue = (
        select(WebhookMessage.id)
        .where(
            WebhookMessage.status == PENDING,
            WebhookMessage.next_attempt_at < func.now() - timedelta(seconds=grace_s),
        )
        .order_by(WebhookMessage.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        update(WebhookMessage)
        .where(WebhookMessage.id.in_(overdue.scalar_subquery()))
        .values(next_attempt_at=func.now())
        .returning(WebhookMessage.id)
    )
    return stmt.cte("overdue_webhook_messages")


class Claimed(NamedTuple):
    """A due message, row-locked until the transaction ends, with its endpoint."""

    message: WebhookMessage
    endpoint: WebhookEndpoint
    trace: dict[str, Any] | None = None  # its submission's request_id and trace context


def claim_due(session: Session, message_id: uuid.UUID) -> Claimed | None:
    """The message if it is pending, due, and not held by another delivery (SKIP LOCKED)."""
    stmt = (
        select(WebhookMessage, WebhookEndpoint, Submission.trace)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .join(Submission, Submission.id == WebhookMessage.submission_id)
        .where(
            WebhookMessage.id == message_id,
            WebhookMessage.status == PENDING,
            WebhookMessage.next_attempt_at <= func.now(),
        )
        .with_for_update(of=WebhookMessage, skip_locked=True)
    )
    row = session.execute(stmt).one_or_none()
    return None if row is None else Claimed(row[0], row[1], row[2])


def in_seconds(seconds: float) -> ColumnElement[datetime]:
    """``seconds`` from now by the database's clock (what ``claim_due`` compares with)."""
    return func.now() + func.make_interval(0, 0, 0, 0, 0, 0, seconds)


def close(
    session: Session,
    message: WebhookMessage,
    *,
    status: str,
    attempts: int,
    body: str | None = None,
    next_attempt_at: ColumnElement[datetime] | None = None,
) -> None:
    """Set a claimed message's state after an attempt: its status, the body every attempt sends
    (kept from the first), and ``next_attempt_at`` while it stays pending."""
    message.status = status
    message.body = message.body or body
    message.attempts = attempts
    if next_attempt_at is not None:
        message.next_attempt_at = next_attempt_at  # type: ignore[assignment]
    if status == DELIVERED:
        message.delivered_at = func.now()  # type: ignore[assignment]
    session.flush()


def add_attempt(session: Session, attempt: WebhookAttempt) -> None:
    """Record one POST and its result."""
    session.add(attempt)
    session.flush()


class AttemptRow(NamedTuple):
    """An attempt as the deliveries listing shows it."""

    attempt: WebhookAttempt
    event: str
    submission_id: uuid.UUID
    message_status: str


def attempts_for_endpoint(
    session: Session, endpoint_id: uuid.UUID, limit: int = 100
) -> list[AttemptRow]:
    """The endpoint's latest attempts, newest first."""
    stmt = (
        select(
            WebhookAttempt,
            WebhookMessage.event,
            WebhookMessage.submission_id,
            WebhookMessage.status,
        )
        .join(WebhookMessage, WebhookMessage.id == WebhookAttempt.message_id)
        .where(WebhookAttempt.endpoint_id == endpoint_id)
        .order_by(WebhookAttempt.id.desc())
        .limit(limit)
    )
    return [AttemptRow(*row) for row in session.execute(stmt)]
