"""The audit trail: append-only, hash-chained events (the chain is kept by a trigger)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy import Table, Text, insert, select, text
from sqlalchemy import cast as cast_
from sqlalchemy.orm import Session

from moderation.audit.models import AuditChainHead, AuditEvent

if TYPE_CHECKING:  # the search service owns the filter type and calls search() with it
    from moderation.audit.search import AuditFilter

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


def chain_key(tenant_id: uuid.UUID | str | None) -> str:
    """The chain a tenant's events join ('' for events of no tenant), as the trigger names it."""
    return "" if tenant_id is None else str(tenant_id)


def append_many(session: Session, events: list[dict[str, Any]]) -> None:
    """Append audit events in one statement (keys as in :func:`append`), in chain order (see
    :func:`lock_chains`)."""
    if events:
        ordered = sorted(events, key=lambda e: chain_key(e["tenant_id"]))
        session.execute(insert(_TABLE), [{"data": {}, **e} for e in ordered])


GENESIS = "0" * 64  # the previous hash of a chain's first row


def lock_chains(session: Session, tenant_ids: Iterable[uuid.UUID | None]) -> None:
    """Take the chain heads of these tenants now, in chain order, creating the missing ones.

    Appending an event locks its tenant's chain head until commit (the trigger), so two
    transactions that append to several chains must take the heads in one order, and take
    them after any row lock they wait for: a transaction that appends to several chains in
    more than one statement calls this first (one statement orders its own rows instead)."""
    keys = sorted({chain_key(t) for t in tenant_ids})
    if len(keys) < 2:
        return
    session.execute(
        text(
            "INSERT INTO audit_chain_heads (chain, seq, row_hash) "
            "SELECT k, 0, :genesis FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k "
            "ON CONFLICT (chain) DO NOTHING"
        ),
        {"keys": keys, "genesis": GENESIS},
    )
    session.execute(
        select(AuditChainHead.chain)
        .where(AuditChainHead.chain.in_(keys))
        .order_by(AuditChainHead.chain)
        .with_for_update()
    ).all()


def search(
    session: Session, where: AuditFilter, *, limit: int, offset: int = 0
) -> list[AuditEvent]:
    """Events matching ``where``, newest first."""
    query = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if where.tenant_id is not None:
        query = query.where(AuditEvent.tenant_id == where.tenant_id)
    if where.subject_id:
        query = query.where(AuditEvent.subject_id == where.subject_id)
    if where.actor:
        query = query.where(AuditEvent.actor.ilike(f"%{_escape_like(where.actor)}%"))
    if where.since is not None:
        query = query.where(AuditEvent.created_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.created_at < where.until)
    return list(session.scalars(query.limit(limit).offset(offset)))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ChainRow(NamedTuple):
    """An audit row as hashed: ``data`` is PostgreSQL's canonical jsonb text."""

    id: int
    tenant_id: uuid.UUID | None
    subject_type: str
    subject_id: str
    event: str
    actor: str
    data: str
    created_at: datetime
    chain_seq: int
    prev_hash: str
    row_hash: str


def chains(session: Session) -> list[AuditChainHead]:
    """The head (last link) of every tenant's chain."""
    return list(session.scalars(select(AuditChainHead).order_by(AuditChainHead.chain)))


def chain_rows(session: Session, chain: str) -> Iterator[ChainRow]:
    """One chain's rows in chain order (``chain`` = tenant id text, '' for no tenant)."""
    t = AuditEvent
    tenant = t.tenant_id.is_(None) if chain == "" else t.tenant_id == uuid.UUID(chain)
    query = (
        select(
            t.id,
            t.tenant_id,
            t.subject_type,
            t.subject_id,
            t.event,
            t.actor,
            cast_(t.data, Text),
            t.created_at,
            t.chain_seq,
            t.prev_hash,
            t.row_hash,
        )
        .where(tenant)
        .order_by(t.chain_seq, t.id)
        .execution_options(yield_per=1000)
    )
    for row in session.execute(query):
        yield ChainRow(*row)


def for_subject(session: Session, subject_type: str, subject_id: str) -> list[AuditEvent]:
    """A subject's events, oldest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
        .order_by(AuditEvent.id)
    )
    return list(session.scalars(stmt))
