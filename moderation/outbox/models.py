"""Task messages waiting for the relay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from moderation.storage.base import Base, now_column


class OutboxMessage(Base):
    """A Celery message to send once the transaction that wrote it has committed."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "created_at", postgresql_where="sent_at IS NULL"),
        Index("ix_outbox_sent_at", "sent_at", postgresql_where="sent_at IS NOT NULL"),  # pruning
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(50))
    args: Mapped[dict[str, Any]]
    headers: Mapped[dict[str, Any] | None]  # Celery message headers: request_id, traceparent
    created_at: Mapped[datetime] = now_column()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
