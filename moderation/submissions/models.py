"""Tables of submissions: images, submissions, decisions, frame verdicts, idempotency keys,
appeals."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from moderation.storage.base import Base, now_column


class Image(Base):
    """Metadata of a content-addressed image blob (the bytes live in the blob store)."""

    __tablename__ = "images"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = now_column()
    # the blob is deleted (None: stored); the metadata row stays, submissions point at it
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # a submission stopped keeping it: the purge checks whether the blob can go
    purge_check: Mapped[bool] = mapped_column(Boolean, server_default="false")
    __table_args__ = (
        Index("ix_images_purge_check", "sha256", postgresql_where=text("purge_check")),
    )


KEPT = "image_purged_at IS NULL"  # a submission that still keeps its image


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_status_updated_at", "status", "updated_at"),
        Index("ix_submissions_image_kept", "image_sha256", postgresql_where=text(KEPT)),
        Index("ix_submissions_kept_created_at", "created_at", postgresql_where=text(KEPT)),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"))
    policy_version: Mapped[str] = mapped_column(ForeignKey("policy_versions.version"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    enqueue_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = now_column()
    updated_at: Mapped[datetime] = now_column()
    # retention: when its image stopped being kept (purged or erased), and a legal hold
    image_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    legal_hold_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    legal_hold_by: Mapped[str | None] = mapped_column(Text)
    # the upload's request_id and trace context (moderation.observability)
    trace: Mapped[dict[str, Any] | None]


# The review queue's quality-sample bucket of a decision (moderation.review.queue_repository).
SAMPLE_BUCKET = "(abs(hashtext(submission_id::text)::bigint) % 10000)"


class Decision(Base):
    """The action taken on a submission, with the verdict behind it and its provenance."""

    __tablename__ = "decisions"
    __table_args__ = (
        # the review queue's reasons: a model decision asking for review, and the sample
        Index(
            "ix_decisions_to_review",
            "decided_at",
            "submission_id",
            postgresql_where="decided_by = 'model' AND action = 'review'",
        ),
        Index(
            "ix_decisions_sample",
            text(SAMPLE_BUCKET),
            "decided_at",
            "submission_id",
            postgresql_where="decided_by = 'model' AND model_action IN ('allow', 'block')",
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), unique=True)
    action: Mapped[str] = mapped_column(String(16))
    rating: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text)
    scores: Mapped[dict[str, Any]]
    decided_by: Mapped[str] = mapped_column(String(16))
    # what the model decided, kept when a reviewer changes action/rating/category (agreement)
    model_action: Mapped[str] = mapped_column(String(16))
    model_category: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), server_default="model")
    verdict_key: Mapped[str | None] = mapped_column(String(64), index=True)
    cached_from: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("decisions.id"))
    # source "hash_match": the bank entry matched ({bank, bank_name, entry, distance, kind})
    match: Mapped[dict[str, Any] | None]
    # an animated image: the frames judged [{index, offset_ms, rating, category, unsafe}]
    frames: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    verdict: Mapped[dict[str, Any]]
    raw_text: Mapped[str] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(String(300))
    model_revision: Mapped[str] = mapped_column(String(100))
    prompt_sha256: Mapped[str] = mapped_column(String(64))
    decoding: Mapped[dict[str, Any]]
    latency_ms: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[datetime] = now_column()


class FrameVerdict(Base):
    """The model's verdict on one frame of an animated image, cached by the frame's key
    (its decoded pixels, policy version, model, decoding, and tenant under the tenant scope):
    the same frame in another animation costs no model call."""

    __tablename__ = "frame_verdicts"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    rating: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text)
    raw_text: Mapped[str] = mapped_column(Text)
    scores: Mapped[dict[str, Any]]
    prompt_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = now_column()


class IdempotencyKey(Base):
    """A tenant's ``Idempotency-Key``: the request it first came with and what it created."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_created_at", "created_at"),)  # expiry
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"))
    created_at: Mapped[datetime] = now_column()


class Appeal(Base):
    """A platform's request that a human review a decision."""

    __tablename__ = "appeals"
    __table_args__ = (
        Index(
            "uq_appeals_open_submission",
            "submission_id",
            unique=True,
            postgresql_where="status = 'open'",
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # open | upheld | overturned
    created_at: Mapped[datetime] = now_column()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_note: Mapped[str | None] = mapped_column(Text)
