"""Tables of hash banks: banks, their entries, each image's hashes and backfill matches.

A bank belongs to a tenant, or to nobody (``tenant_id`` NULL): a *global* bank, the
operator's, matched against every tenant's uploads. An entry keeps hashes only, never the
image it was computed from.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Identity, Index, Integer, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from moderation.storage.base import Base, now_column


class HashBank(Base):
    """A named list of known content of one owner (a tenant, or NULL: global), with the
    action its matches take and the PDQ distance within which an upload matches."""

    __tablename__ = "hash_banks"
    __table_args__ = (
        Index(
            "uq_hash_banks_global_name",
            "name",
            unique=True,
            postgresql_where=text("tenant_id IS NULL"),
        ),
        Index(
            "uq_hash_banks_tenant_id_name",
            "tenant_id",
            "name",
            unique=True,
            postgresql_where=text("tenant_id IS NOT NULL"),
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(16))  # block | review
    distance: Mapped[int] = mapped_column(SmallInteger, server_default="31")
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = now_column()


class BankEntry(Base):
    """One known image: its PDQ hash (hex), MD5 and SHA-256 when the image was given, a label
    and the action a match takes. ``seq`` orders entries for the workers' index refresh."""

    __tablename__ = "bank_entries"
    __table_args__ = (Index("ix_bank_entries_bank_id_pdq", "bank_id", "pdq"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), unique=True)
    bank_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("hash_banks.id", ondelete="CASCADE"))
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(SmallInteger)
    md5: Mapped[str | None] = mapped_column(String(32), index=True)
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200))  # api | import:FILE | review:SUBMISSION
    added_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = now_column()


class ImageHash(Base):
    """The hashes of an image (content-addressed, so computed once per image bytes)."""

    __tablename__ = "image_hashes"
    sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"), primary_key=True)
    pdq: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int] = mapped_column(Integer)
    md5: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = now_column()


class BankMatch(Base):
    """A decided submission that a bank entry added later matches (the backfill): it waits in
    the review queue with reason ``hash_match`` until a reviewer decides it."""

    __tablename__ = "bank_matches"
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bank_entries.id", ondelete="CASCADE"))
    distance: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = now_column()
