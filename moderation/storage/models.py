"""ORM tables. The schema itself is created only by Alembic migrations (``migrations/``)."""

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
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB}


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = _now()


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)  # public; the lookup id
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    created_at: Mapped[datetime] = _now()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Policy(Base):
    __tablename__ = "policies"
    slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    active_version: Mapped[str] = mapped_column(ForeignKey("policy_versions.version"))
    updated_at: Mapped[datetime] = _now()


class PolicyVersion(Base):
    __tablename__ = "policy_versions"
    version: Mapped[str] = mapped_column(String(80), primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), index=True)
    content: Mapped[dict[str, Any]]
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()


class Image(Base):
    """Metadata of a content-addressed image blob (the bytes live in the blob store)."""

    __tablename__ = "images"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _now()


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_status_updated_at", "status", "updated_at"),)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"))
    policy_version: Mapped[str] = mapped_column(ForeignKey("policy_versions.version"))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    enqueue_count: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Decision(Base):
    """The action taken on a submission, with the verdict behind it and its provenance."""

    __tablename__ = "decisions"
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
    verdict: Mapped[dict[str, Any]]
    raw_text: Mapped[str] = mapped_column(Text)
    model_id: Mapped[str] = mapped_column(String(300))
    model_revision: Mapped[str] = mapped_column(String(100))
    prompt_sha256: Mapped[str] = mapped_column(String(64))
    decoding: Mapped[dict[str, Any]]
    latency_ms: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[datetime] = _now()


class InferenceWorker(Base):
    """A worker process that loaded a model: what it runs and when it was last seen."""

    __tablename__ = "inference_workers"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(300))
    model_revision: Mapped[str] = mapped_column(String(100))
    device: Mapped[str] = mapped_column(String(32))
    dtype: Mapped[str] = mapped_column(String(16))
    warmed_up: Mapped[bool] = mapped_column(Boolean)
    batch_size: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = _now()
    last_seen_at: Mapped[datetime] = _now()


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(80), index=True)
    event: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _now()
    # filled by the BEFORE INSERT trigger ``audit_events_chain`` (see moderation.domain.audit_chain)
    chain_seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (Index("ix_audit_events_chain", "tenant_id", "chain_seq"),)


class AuditChainHead(Base):
    """The last link of each tenant's audit chain ('' = events of no tenant); trigger-kept."""

    __tablename__ = "audit_chain_heads"
    chain: Mapped[str] = mapped_column(String(36), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))


class User(Base):
    """A console account: reviewer, policy author or admin; ``tenant_id`` None = all tenants."""

    __tablename__ = "users"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    __table_args__ = (Index("uq_users_email_lower", func.lower(email), unique=True),)


class UserSession(Base):
    """A console login; ``id`` is the sha256 of the cookie's token (the token is not stored)."""

    __tablename__ = "user_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_seen: Mapped[datetime] = _now()


class OutboxMessage(Base):
    """A Celery message to send once the transaction that wrote it has committed."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "created_at", postgresql_where="sent_at IS NULL"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(50))
    args: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = _now()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class WebhookEndpoint(Base):
    """A tenant's URL that receives signed events; the signing secret is stored encrypted."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    secret_sealed: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class WebhookMessage(Base):
    """One event for one endpoint: its ``webhook-id``, body (rendered once) and retry state."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        Index("ix_webhook_messages_due", "next_attempt_at", postgresql_where="status = 'pending'"),
    )
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(64))
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    body: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = _now()
    created_at: Mapped[datetime] = _now()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookAttempt(Base):
    """One POST of a message to its endpoint and what came of it."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempted_at: Mapped[datetime] = _now()


class IdempotencyKey(Base):
    """A tenant's ``Idempotency-Key``: the request it first came with and what it created."""

    __tablename__ = "idempotency_keys"
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"))
    created_at: Mapped[datetime] = _now()


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
    created_at: Mapped[datetime] = _now()
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_note: Mapped[str | None] = mapped_column(Text)


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
    created_at: Mapped[datetime] = _now()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Review(Base):
    """A reviewer's confirm/overturn of a decision; the ground truth of backtests."""

    __tablename__ = "reviews"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), index=True)
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("decisions.id"), index=True)
    reviewer: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    rating: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = _now()


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
    created_by_tenant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tenants.id"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()


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


class ReviewClaim(Base):
    """A reviewer's lock on a queue item; another reviewer may take it once it expires."""

    __tablename__ = "review_claims"
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
