"""The audit trail and its per-tenant chain heads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from moderation.storage.base import Base, now_column

_NEWEST_FIRST = (text("created_at DESC"), text("id DESC"))


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(80), index=True)
    event: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = now_column()
    # filled by the BEFORE INSERT trigger ``audit_events_chain`` (see moderation.audit.chain)
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (
        Index("ix_audit_events_chain", "tenant_id", "chain_seq"),
        # the audit page: newest first, for one tenant or for all
        Index(
            "ix_audit_events_tenant_recent", "tenant_id", text("created_at DESC"), text("id DESC")
        ),
        Index("ix_audit_events_recent", text("created_at DESC"), text("id DESC")),
    )


class AuditChainHead(Base):
    """The last link of each tenant's audit chain ('' = events of no tenant); trigger-kept."""

    __tablename__ = "audit_chain_heads"
    chain: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))
