"""The transactional outbox: messages written with the data, sent after commit."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from moderation.storage.models import OutboxMessage


def add(session: Session, task: str, queue: str, kwargs: dict[str, Any]) -> OutboxMessage:
    """Record the intent to send a task, in the caller's transaction."""
    message = OutboxMessage(task=task, queue=queue, args=kwargs, attempts=0)
    session.add(message)
    session.flush()
    return message


def pending(
    session: Session, ids: list[int] | None = None, limit: int = 500
) -> list[OutboxMessage]:
    """Unsent messages (optionally only these ids), row-locked, oldest first."""
    stmt = select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(ids))
    stmt = stmt.order_by(OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def mark_sent(session: Session, message: OutboxMessage) -> None:
    """Record a successful publish."""
    message.sent_at = datetime.now(UTC)
    message.attempts += 1
    session.flush()


def mark_failed_attempt(session: Session, message_id: int) -> None:
    """Count a failed publish (the message stays pending)."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(attempts=OutboxMessage.attempts + 1)
    )
