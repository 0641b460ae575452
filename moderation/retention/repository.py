"""SQL of image retention: which submissions stop keeping their image, which blobs can go,
legal holds, tenant retention."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from moderation.accounts.models import ApiKey, Tenant
from moderation.audit.models import AuditEvent
from moderation.review.models import Review
from moderation.submissions.models import (
    SAMPLE_BUCKET,
    Appeal,
    Decision,
    IdempotencyKey,
    Image,
    Submission,
)
from moderation.submissions.types import FINAL

_NO_SYNC = {"synchronize_session": False}


def _days_ago(days: Any) -> ColumnElement[Any]:
    return func.now() - func.make_interval(0, 0, 0, days)


def _in_review(sample_rate: float) -> ColumnElement[bool]:
    """The submission is open in the review queue: an open appeal, a model decision asking
    for review, or one of the quality sample (moderation.review.queue_repository)."""
    threshold: ColumnElement[Any] = literal_column(str(round(sample_rate * 10_000)))
    by_model = and_(Decision.submission_id == Submission.id, Decision.decided_by == "model")
    return or_(
        exists().where(Appeal.submission_id == Submission.id, Appeal.status == "open"),
        exists().where(
            by_model,
            or_(
                Decision.action == "review",
                and_(
                    Decision.model_action.in_(("allow", "block")),
                    literal_column(SAMPLE_BUCKET) < threshold,
                ),
            ),
        ),
    )


def _shortest_retention(session: Session, default_days: int) -> int:
    """The fewest days any tenant keeps images: the index bound of the due submissions."""
    overrides = session.scalar(select(func.min(Tenant.image_retention_days)))
    return default_days if overrides is None else min(default_days, overrides)


def _mark_unkept(
    session: Session, chosen: Any, *, event: str, actor: str, data: dict[str, Any]
) -> list[tuple[uuid.UUID, str]]:
    """Stamp ``image_purged_at`` on the submissions ``chosen`` selects (their ids, row-locked),
    flag their images for the blob check, and append ``event`` to each tenant's chain, in ONE
    statement; [(submission id, sha256)]."""
    due = chosen.cte("due")
    marked = (
        update(Submission)
        .where(Submission.id.in_(select(due.c.id)), Submission.image_purged_at.is_(None))
        .values(image_purged_at=func.now())
        .returning(Submission.id, Submission.tenant_id, Submission.image_sha256)
        .cte("marked")
    )
    flagged = (
        update(Image)
        .where(Image.sha256.in_(select(marked.c.image_sha256)), Image.purge_check.is_(False))
        .values(purge_check=True)
        .cte("flagged")
    )
    events = insert(AuditEvent).from_select(
        ["tenant_id", "subject_type", "subject_id", "event", "actor", "data"],
        select(
            marked.c.tenant_id,
            literal("submission", String()),
            cast(marked.c.id, String()),
            literal(event, String()),
            literal(actor, String()),
            func.jsonb_build_object("image_sha256", marked.c.image_sha256, *_pairs(data)),
        ).order_by(marked.c.tenant_id),  # chain heads in one order (audit.lock_chains)
    )
    stmt = select(marked.c.id, marked.c.image_sha256).add_cte(flagged, events.cte("purge_events"))
    return [(row[0], row[1]) for row in session.execute(stmt)]


def _pairs(data: dict[str, Any]) -> list[Any]:
    """``jsonb_build_object`` arguments for constant keys and values."""
    return [part for key, value in data.items() for part in (literal(key), literal(value))]


def expire_due(
    session: Session,
    *,
    default_days: int,
    review_days: int,
    sample_rate: float,
    limit: int,
) -> list[tuple[uuid.UUID, str]]:
    """Up to ``limit`` decided or failed submissions whose image outlived their tenant's
    retention, oldest first, stop keeping it (audit ``image.purged``): not those on legal
    hold, nor those open in the review queue or an appeal, until ``review_days`` (rows
    locked by someone else are left for the next batch)."""
    days = func.coalesce(Tenant.image_retention_days, default_days)
    chosen = (
        select(Submission.id)
        .join(Tenant, Tenant.id == Submission.tenant_id)
        .where(
            Submission.image_purged_at.is_(None),
            Submission.legal_hold_at.is_(None),
            Submission.status.in_(FINAL),
            # the index bound, then each tenant's own
            Submission.created_at < _days_ago(_shortest_retention(session, default_days)),
            Submission.created_at < _days_ago(days),
            or_(Submission.created_at < _days_ago(review_days), ~_in_review(sample_rate)),
        )
        .order_by(Submission.created_at)
        .limit(limit)
        .with_for_update(of=Submission, skip_locked=True)
    )
    return _mark_unkept(
        session, chosen, event="image.purged", actor="retention", data={"reason": "retention"}
    )


def mark_erased(
    session: Session, submission_ids: Sequence[uuid.UUID], *, event: str, actor: str
) -> list[tuple[uuid.UUID, str]]:
    """These submissions (row-locked by the caller) stop keeping their image now."""
    chosen = select(Submission.id).where(Submission.id.in_(submission_ids))
    return _mark_unkept(session, chosen, event=event, actor=actor, data={"reason": "erasure"})


def lock_blob_checks(session: Session, limit: int, only: Sequence[str] | None = None) -> list[str]:
    """Up to ``limit`` images flagged for the blob check (of ``only``, when given), locked
    exclusively until commit: intake, which share-locks the image of each submission it
    writes, waits meanwhile; one it holds now is skipped (checked next round)."""
    stmt = select(Image.sha256).where(Image.purge_check.is_(True))
    if only is not None:
        stmt = stmt.where(Image.sha256.in_(only))
    stmt = stmt.limit(limit).with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def still_kept(session: Session, shas: Sequence[str]) -> set[str]:
    """Which of these images a submission still keeps (read after their locks were taken:
    every intake that wrote one has committed)."""
    if not shas:
        return set()
    stmt = select(Submission.image_sha256).where(
        Submission.image_sha256.in_(shas), Submission.image_purged_at.is_(None)
    )
    return set(session.scalars(stmt.distinct()))


def settle_blob_checks(session: Session, checked: Sequence[str], deleted: Sequence[str]) -> None:
    """The check of these images is done; ``deleted`` ones have no blob any more."""
    if not checked:
        return
    gone = Image.sha256.in_(deleted) if deleted else literal(False)
    session.execute(
        update(Image)
        .where(Image.sha256.in_(checked))
        .values(
            purge_check=False,
            purged_at=case(
                (gone, func.coalesce(Image.purged_at, func.now())), else_=Image.purged_at
            ),
        ),
        execution_options=_NO_SYNC,
    )


def lock_for_tenant(
    session: Session, submission_id: uuid.UUID, tenant_id: uuid.UUID | None
) -> Submission | None:
    """A submission, row-locked, when it is ``tenant_id``'s (None: any tenant's)."""
    stmt = select(Submission).where(Submission.id == submission_id)
    if tenant_id is not None:
        stmt = stmt.where(Submission.tenant_id == tenant_id)
    stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def set_hold(session: Session, submission: Submission, reason: str | None, by: str | None) -> None:
    """Place (a reason) or release (None) the legal hold of a locked submission."""
    session.execute(
        update(Submission)
        .where(Submission.id == submission.id)
        .values(
            legal_hold_at=None if reason is None else func.now(),
            legal_hold_reason=reason,
            legal_hold_by=None if reason is None else by,
        ),
        execution_options=_NO_SYNC,
    )


def set_retention_days(session: Session, tenant_id: uuid.UUID, days: int | None) -> None:
    """The tenant's own image retention (None: the service default)."""
    session.execute(
        update(Tenant).where(Tenant.id == tenant_id).values(image_retention_days=days),
        execution_options=_NO_SYNC,
    )


def held_count(session: Session, tenant_id: uuid.UUID) -> int:
    """The tenant's submissions under a legal hold."""
    stmt = select(func.count()).where(
        Submission.tenant_id == tenant_id, Submission.legal_hold_at.is_not(None)
    )
    return int(session.scalar(stmt) or 0)


def mark_tenant_erased(session: Session, tenant_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """Every submission of the tenant stops keeping its image (audit ``image.erased``)."""
    chosen = (
        select(Submission.id)
        .where(Submission.tenant_id == tenant_id, Submission.image_purged_at.is_(None))
        .with_for_update()
    )
    return _mark_unkept(
        session, chosen, event="image.erased", actor="tenant-deletion", data={"reason": "tenant"}
    )


def clear_personal_data(session: Session, tenant_id: uuid.UUID) -> dict[str, int]:
    """Clear what identifies people in the tenant's rows; counts per kind. Its API keys are
    revoked, its idempotency keys forgotten and its name freed (``deleted-<id>``)."""
    of_tenant = select(Submission.id).where(Submission.tenant_id == tenant_id)
    changes: dict[str, Any] = {
        "external ids": update(Submission)
        .where(Submission.tenant_id == tenant_id, Submission.external_id.is_not(None))
        .values(external_id=None),
        "appeal reasons and notes": update(Appeal)
        .where(
            Appeal.tenant_id == tenant_id,
            or_(Appeal.reason != "", Appeal.resolution_note.is_not(None)),
        )
        .values(reason="", resolution_note=None),
        "review notes": update(Review)
        .where(Review.submission_id.in_(of_tenant), Review.note != "")
        .values(note=""),
        "idempotency keys": delete(IdempotencyKey).where(IdempotencyKey.tenant_id == tenant_id),
        "API keys revoked": update(ApiKey)
        .where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now()),
    }
    counts = {
        kind: session.execute(stmt, execution_options=_NO_SYNC).rowcount  # type: ignore[attr-defined]
        for kind, stmt in changes.items()
    }
    session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(name="deleted-" + cast(Tenant.id, String())),
        execution_options=_NO_SYNC,
    )
    return counts


def kept_counts(session: Session, tenant_id: uuid.UUID) -> dict[str, int]:
    """What stays of a deleted tenant: its audit chain and aggregate counts."""
    counted = {
        "audit events (hash chain)": select(func.count()).where(AuditEvent.tenant_id == tenant_id),
        "submissions (decisions, verdicts, sha256)": select(func.count()).where(
            Submission.tenant_id == tenant_id
        ),
    }
    return {kind: int(session.scalar(stmt) or 0) for kind, stmt in counted.items()}
