"""SQL of hash banks: banks of an owner (a tenant, or None: global), their entries, the
hashes of images, and the matches a new entry finds among decided submissions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, delete, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.orm import Session

from moderation.banks.models import BankEntry, BankMatch, HashBank, ImageHash
from moderation.submissions.models import Decision, Submission


def owned_by(tenant_id: uuid.UUID | None) -> ColumnElement[bool]:
    """Banks of exactly this owner (None: the global ones)."""
    return HashBank.tenant_id.is_(None) if tenant_id is None else HashBank.tenant_id == tenant_id


def matched_for(tenant_id: uuid.UUID) -> ColumnElement[bool]:
    """Banks a tenant's uploads are matched against: its own and the global ones."""
    return or_(owned_by(tenant_id), owned_by(None))


def add_bank(session: Session, **values: Any) -> HashBank | None:
    """Insert a bank; None when its owner has one of that name already."""
    stmt = insert(HashBank).values(id=uuid.uuid4(), **values).on_conflict_do_nothing()
    bank_id = session.execute(stmt.returning(HashBank.id)).scalar_one_or_none()
    return None if bank_id is None else session.get(HashBank, bank_id)


def bank(session: Session, tenant_id: uuid.UUID | None, bank_id: uuid.UUID) -> HashBank | None:
    """The bank of exactly this owner."""
    stmt = select(HashBank).where(HashBank.id == bank_id, owned_by(tenant_id))
    return session.scalars(stmt).one_or_none()


def bank_by_name(session: Session, tenant_id: uuid.UUID | None, name: str) -> HashBank | None:
    """The bank ``name`` of exactly this owner."""
    stmt = select(HashBank).where(HashBank.name == name, owned_by(tenant_id))
    return session.scalars(stmt).one_or_none()


def banks(session: Session, tenant_id: uuid.UUID | None) -> list[tuple[HashBank, int]]:
    """The owner's banks by name, each with its number of entries."""
    count = (
        select(func.count())
        .where(BankEntry.bank_id == HashBank.id)
        .correlate(HashBank)
        .scalar_subquery()
    )
    stmt = select(HashBank, count).where(owned_by(tenant_id)).order_by(HashBank.name)
    return [(b, int(n)) for b, n in session.execute(stmt)]


def usable_banks(session: Session, tenant_id: uuid.UUID | None) -> list[HashBank]:
    """Banks a reviewer of this viewer may add to: a tenant's own and the global ones (all
    banks for a viewer of every tenant)."""
    stmt = select(HashBank).order_by(HashBank.tenant_id.is_not(None), HashBank.name)
    if tenant_id is not None:
        stmt = stmt.where(matched_for(tenant_id))
    return list(session.scalars(stmt))


def delete_bank(session: Session, bank_id: uuid.UUID) -> None:
    """Delete a bank and (cascade) its entries."""
    session.execute(delete(HashBank).where(HashBank.id == bank_id))


def add_entries(session: Session, rows: Sequence[dict[str, Any]]) -> list[BankEntry]:
    """Insert entries (batched by SQLAlchemy's insertmanyvalues: one statement compiled
    once, not a VALUES list of every row); the rows written, in order."""
    if not rows:
        return []
    stmt = insert(BankEntry).returning(BankEntry, sort_by_parameter_order=True)
    return list(session.scalars(stmt, [{"id": uuid.uuid4(), **r} for r in rows]))


def bank_pdqs(session: Session, bank_id: uuid.UUID, pdqs: Iterable[str]) -> set[str]:
    """Which of these PDQ hashes the bank has an entry of (index ``bank_id, pdq``)."""
    wanted = list(pdqs)
    if not wanted:
        return set()
    as_array = bindparam("pdqs", wanted, type_=ARRAY(String(64)))  # one parameter, not n
    stmt = select(BankEntry.pdq).where(
        BankEntry.bank_id == bank_id, BankEntry.pdq == any_(as_array)
    )
    return {str(p) for p in session.scalars(stmt)}


def entries(session: Session, bank_id: uuid.UUID, after: int, limit: int) -> list[BankEntry]:
    """A page of a bank's entries in insertion order, after sequence number ``after``."""
    stmt = (
        select(BankEntry)
        .where(BankEntry.bank_id == bank_id, BankEntry.seq > after)
        .order_by(BankEntry.seq)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def all_entries(session: Session, bank_id: uuid.UUID, batch: int = 5000) -> Iterator[BankEntry]:
    """Every entry of a bank, read in batches (an export)."""
    after = 0
    while page := entries(session, bank_id, after, batch):
        yield from page
        after = page[-1].seq


def delete_entry(session: Session, bank_id: uuid.UUID, entry_id: uuid.UUID) -> bool:
    """Delete one entry of the bank; False when it has none of that id."""
    stmt = delete(BankEntry).where(BankEntry.id == entry_id, BankEntry.bank_id == bank_id)
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def pdq_since(session: Session, after: int, limit: int) -> list[tuple[int, str]]:
    """``(seq, pdq)`` of entries with a PDQ hash added after ``after`` (the index refresh)."""
    stmt = (
        select(BankEntry.seq, BankEntry.pdq)
        .where(BankEntry.seq > after, BankEntry.pdq.is_not(None))
        .order_by(BankEntry.seq)
        .limit(limit)
    )
    return [(int(s), str(p)) for s, p in session.execute(stmt)]


def max_distance(session: Session) -> int:
    """The largest match distance of any bank (0 with none)."""
    return int(session.scalar(select(func.coalesce(func.max(HashBank.distance), 0))) or 0)


def candidates(
    session: Session, tenant_id: uuid.UUID, seqs: Sequence[int], md5: str, sha256: str
) -> list[tuple[BankEntry, HashBank]]:
    """Entries of the banks the tenant is matched against that are among ``seqs`` (PDQ
    candidates) or have this MD5 or SHA-256, with their banks."""
    stmt = (
        select(BankEntry, HashBank)
        .join(HashBank, HashBank.id == BankEntry.bank_id)
        .where(
            matched_for(tenant_id),
            or_(BankEntry.seq.in_(seqs), BankEntry.md5 == md5, BankEntry.sha256 == sha256),
        )
    )
    return [(e, b) for e, b in session.execute(stmt)]


def image_hashes(session: Session, sha256s: Sequence[str]) -> dict[str, ImageHash]:
    """The stored hashes of these images."""
    stmt = select(ImageHash).where(ImageHash.sha256.in_(set(sha256s)))
    return {h.sha256: h for h in session.scalars(stmt)}


def add_image_hashes(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Store images' hashes (an image hashed twice keeps its first row)."""
    if rows:
        session.execute(insert(ImageHash).values(list(rows)).on_conflict_do_nothing())


def allowed_since(
    session: Session, tenant_id: uuid.UUID | None, since: datetime
) -> Iterator[tuple[uuid.UUID, uuid.UUID, ImageHash]]:
    """``(submission, tenant, hashes)`` of the submissions created since ``since`` that the
    model allowed (of one tenant; None: every tenant) and no reviewer has decided."""
    stmt = (
        select(Submission.id, Submission.tenant_id, ImageHash)
        .join(Decision, Decision.submission_id == Submission.id)
        .join(ImageHash, ImageHash.sha256 == Submission.image_sha256)
        .where(
            Submission.created_at >= since,
            Decision.action == "allow",
            Decision.decided_by == "model",
        )
        .execution_options(yield_per=5000)
    )
    if tenant_id is not None:
        stmt = stmt.where(Submission.tenant_id == tenant_id)
    for row in session.execute(stmt):
        yield row[0], row[1], row[2]


def add_matches(session: Session, rows: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    """Flag submissions for review by a bank entry; the submissions flagged now."""
    if not rows:
        return []
    stmt = insert(BankMatch).values(list(rows)).on_conflict_do_nothing()
    return list(session.scalars(stmt.returning(BankMatch.submission_id)))
