"""Tables of policies: policies, their immutable versions, drafts and backtests.

A policy belongs to a tenant, or to nobody (``tenant_id`` NULL): a *global* policy, the
operator's. Versions are content-addressed and shared (the same content is the same version);
which versions a policy has is its list of releases.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from moderation.storage.base import Base, now_column


class Policy(Base):
    """A policy slug of one owner (a tenant, or NULL: global) and its active version."""

    __tablename__ = "policies"
    __table_args__ = (
        Index(
            "uq_policies_global_slug",
            "slug",
            unique=True,
            postgresql_where=text("tenant_id IS NULL"),
        ),
        Index(
            "uq_policies_tenant_id_slug",
            "tenant_id",
            "slug",
            unique=True,
            postgresql_where=text("tenant_id IS NOT NULL"),
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    slug: Mapped[str] = mapped_column(String(63))
    active_version: Mapped[str] = mapped_column(ForeignKey("policy_versions.version"))
    updated_at: Mapped[datetime] = now_column()

    @property
    def scope(self) -> str:
        """``global`` (the operator's) or ``tenant`` (one tenant's own)."""
        return "global" if self.tenant_id is None else "tenant"


class PolicyRelease(Base):
    """A version published under a policy: the versions a policy may be rolled back to."""

    __tablename__ = "policy_releases"
    policy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("policies.id"), primary_key=True)
    version: Mapped[str] = mapped_column(
        ForeignKey("policy_versions.version"), primary_key=True, index=True
    )
    released_at: Mapped[datetime] = now_column()


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    version: Mapped[str] = mapped_column(String(80), primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), index=True)
    content: Mapped[dict[str, Any]]
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_column()


class PolicyDraft(Base):
    """An unpublished rubric: its validated content, who wrote it and what it was based on."""

    __tablename__ = "policy_drafts"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(63), index=True)
    version: Mapped[str] = mapped_column(String(80))
    content: Mapped[dict[str, Any]]
    source_yaml: Mapped[str] = mapped_column(Text)
    base_version: Mapped[str | None] = mapped_column(ForeignKey("policy_versions.version"))
    created_by_tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = now_column()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def scope(self) -> str:
        """Whose policy publishing it changes: ``global`` or ``tenant`` (its creator's)."""
        return "global" if self.created_by_tenant_id is None else "tenant"


class BacktestRun(Base):
    """A draft measured against labelled items, beside the version active when it started."""

    __tablename__ = "backtest_runs"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    draft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("policy_drafts.id"), index=True)
    slug: Mapped[str] = mapped_column(String(63), index=True)
    baseline_version: Mapped[str | None] = mapped_column(ForeignKey("policy_versions.version"))
    source: Mapped[str] = mapped_column(String(16))
    dataset: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer)
    # reviewed items left out because their image was purged (retention, erasure)
    skipped_purged: Mapped[int] = mapped_column(Integer, server_default="0")
    created_by_tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = now_column()


class BacktestItem(Base):
    """One labelled image of a run: the expected answer, then the draft's and baseline's."""

    __tablename__ = "backtest_items"
    __table_args__ = (
        Index("ix_backtest_items_run_id_position", "run_id", "position", unique=True),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("backtest_runs.id"))
    position: Mapped[int] = mapped_column(Integer)
    image_sha256: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(Text)
    submission_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("submissions.id"))
    expected_rating: Mapped[str] = mapped_column(String(16))
    expected_category: Mapped[str | None] = mapped_column(String(16))
    draft: Mapped[dict[str, Any] | None]
    baseline: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
