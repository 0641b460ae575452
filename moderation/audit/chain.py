"""The audit trail's hash chain: what each row's hash covers, and walking the chains.

Each tenant's events (and the events of no tenant) form one chain, kept by the database
trigger ``audit_chain_link`` (migration a7c1e5d9b301). A row's hash is the sha256 (hex) of
its fields, each written as ``<length>:<text>`` one after the other, in this order:
tenant id ('' for none), subject type, subject id, event, actor, data (jsonb text, which
PostgreSQL writes canonically), created_at (UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``), chain
sequence number, previous row's hash (64 zeros before the first row). This module recomputes
it independently of the trigger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.audit.repository import GENESIS, ChainRow


def row_hash(row: ChainRow) -> str:
    """The hash a row must carry, from its content and its link to the previous row."""
    fields = (
        "" if row.tenant_id is None else str(row.tenant_id),
        row.subject_type,
        row.subject_id,
        row.event,
        row.actor,
        row.data,
        row.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        str(row.chain_seq),
        row.prev_hash,
    )
    payload = "".join(f"{len(f)}:{f}" for f in fields)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first row where a chain does not hold, and why."""

    chain: str
    row_id: int | None
    reason: str


@dataclass(frozen=True)
class VerifyResult:
    """Rows checked, and the first break found (None: every chain holds)."""

    rows: int
    broken: Break | None


def _walk(chain: str, rows: Iterable[ChainRow], head_seq: int, head_hash: str) -> Break | int:
    """Check one chain in order; returns its length, or its first break."""
    prev, seq, last_id = GENESIS, 0, None
    for row in rows:
        seq += 1
        if row.chain_seq != seq:
            return Break(chain, row.id, f"sequence {row.chain_seq} where {seq} was expected")
        if row.prev_hash != prev:
            return Break(chain, row.id, "previous-hash link broken (a row before it changed)")
        if row_hash(row) != row.row_hash:
            return Break(chain, row.id, "content does not match its hash (row altered)")
        prev, last_id = row.row_hash, row.id
    if (seq, prev) != (head_seq, head_hash):
        return Break(chain, last_id, f"chain ends at {seq} rows but its head says {head_seq}")
    return seq


def verify(session: Session, chain: str | None = None) -> VerifyResult:
    """Walk every chain (or only ``chain``: a tenant id, '' for no tenant) in order and stop
    at the first row whose sequence, link or hash does not hold. Needs a transaction (rows
    are streamed); REPEATABLE READ keeps heads and rows consistent while others append."""
    total = 0
    for head in audit.chains(session):
        if chain is not None and head.chain != chain:
            continue
        found = _walk(head.chain, audit.chain_rows(session, head.chain), head.seq, head.row_hash)
        if isinstance(found, Break):
            return VerifyResult(total, found)
        total += found
    return VerifyResult(total, None)
