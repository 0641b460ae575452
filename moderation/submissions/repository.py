"""Images, submissions and their status transitions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Integer,
    Select,
    String,
    Uuid,
    cast,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, distinct_on, insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause

from moderation.accounts.models import ApiKey
from moderation.audit.models import AuditEvent
from moderation.outbox import repository as outbox
from moderation.policies.models import Policy
from moderation.storage.pruning import delete_older_than
from moderation.storage.recordsets import recordset
from moderation.submissions.models import Decision, IdempotencyKey, Image, Submission
from moderation.submissions.types import (
    OPEN,
    Incoming,
    Intent,
    Received,
    Status,
    SubmissionRef,
)

_INCOMING: list[ColumnClause[Any]] = [
    column("idx", Integer()),
    column("id", Uuid()),
    column("tenant_id", Uuid()),
    column("key_id", Uuid()),
    column("external_id", String()),
    column("sha256", String()),
    column("size_bytes", BigInteger()),
    column("width", Integer()),
    column("height", Integer()),
    column("format", String()),
    column("policy_slug", String()),
    column("idempotency_key", String()),
    column("request_sha256", String()),
    column("revive_purged_at", DateTime(timezone=True)),
    column("trace", JSONB()),
]


@lru_cache(maxsize=4)
def _receive_statement(intent: Intent, actor: str) -> Select[Any]:
    """The intake statement for any number of submissions (parameter ``rows``), built once."""
    r = recordset("r", "rows", _INCOMING)
    images = (
        insert(Image)
        .from_select(
            ["sha256", "size_bytes", "width", "height", "format"],
            select(r.c.sha256, r.c.size_bytes, r.c.width, r.c.height, r.c.format).ext(
                distinct_on(r.c.sha256)
            ),
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
        .cte("image_rows")
    )
    # the policy a tenant's slug names: its own, else the global one
    in_effect = (
        select(Policy.active_version)
        .where(
            Policy.slug == r.c.policy_slug,
            or_(Policy.tenant_id == r.c.tenant_id, Policy.tenant_id.is_(None)),
        )
        .order_by(Policy.tenant_id.is_(None))
        .limit(1)
        .lateral("in_effect")
    )
    # the stored images, share-locked until commit: the purge, which deletes a blob under
    # an exclusive lock of its row, cannot delete one that a submission written here needs
    locked = (
        select(Image.sha256, Image.purged_at)
        .where(Image.sha256.in_(select(r.c.sha256)))
        .with_for_update(key_share=True)
        .cte("locked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    revivable = locked.c.purged_at == r.c.revive_purged_at  # re-stored since that purge
    # a row is written only under a known policy, with an unrevoked key (when named), for
    # an image whose blob is stored (or stored again since it was purged) ...
    admitted = (
        select(r.c.idx, r.c.id, r.c.tenant_id, r.c.external_id, r.c.sha256, r.c.trace)
        .add_columns(r.c.idempotency_key, r.c.request_sha256, in_effect.c.active_version)
        .join(in_effect, true())
        .outerjoin(locked, locked.c.sha256 == r.c.sha256)
        .where(
            or_(
                r.c.key_id.is_(None),
                exists().where(ApiKey.id == r.c.key_id, ApiKey.revoked_at.is_(None)),
            ),
            or_(locked.c.purged_at.is_(None), revivable),
        )
        .cte("admitted")
    )
    # a purged blob stored again: stored it is; the next purge round checks it is needed
    revived = (
        update(Image)
        .where(Image.sha256.in_(select(locked.c.sha256).join(r, revivable)))
        .values(purged_at=None, purge_check=True)
        .cte("revived")
    )
    # ... and, with an Idempotency-Key, only when this request is the first to claim it
    claimed = (
        insert(IdempotencyKey)
        .from_select(
            ["tenant_id", "key", "request_sha256", "submission_id"],
            select(
                admitted.c.tenant_id,
                admitted.c.idempotency_key,
                admitted.c.request_sha256,
                admitted.c.id,
            ).where(admitted.c.idempotency_key.is_not(None)),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        .returning(IdempotencyKey.submission_id)
        .cte("claimed")
    )
    submission = (
        insert(Submission)
        .from_select(
            [
                "id",
                "tenant_id",
                "external_id",
                "image_sha256",
                "policy_version",
                "status",
                "attempts",
                "enqueue_count",
                "trace",
            ],
            select(
                admitted.c.id,
                admitted.c.tenant_id,
                admitted.c.external_id,
                admitted.c.sha256,
                admitted.c.active_version,
                literal(Status.QUEUED, String()),
                literal(0, Integer()),
                literal(1, Integer()),
                admitted.c.trace,
            )
            .where(
                or_(
                    admitted.c.idempotency_key.is_(None),
                    admitted.c.id.in_(select(claimed.c.submission_id)),
                )
            )
            .order_by(admitted.c.idx),
        )
        .returning(
            Submission.id,
            Submission.tenant_id,
            Submission.image_sha256,
            Submission.policy_version,
            Submission.created_at,
            Submission.trace,
        )
        .cte("submission")
    )
    messages = outbox.per_row(
        intent.task, intent.queue, "submission_id", submission, headers=submission.c.trace
    )
    received_events = insert(AuditEvent).from_select(
        ["tenant_id", "subject_type", "subject_id", "event", "actor", "data"],
        select(
            submission.c.tenant_id,
            literal("submission", String()),
            cast(submission.c.id, String()),
            literal("submission.received", String()),
            literal(actor, String()),
            func.jsonb_build_object(
                "policy_version",
                submission.c.policy_version,
                "image_sha256",
                submission.c.image_sha256,
            ),
        ).order_by(submission.c.tenant_id),  # chain heads in one order (audit.lock_chains)
    )
    return select(
        submission.c.id,
        submission.c.policy_version,
        submission.c.created_at,
        outbox.notify_if_any(messages),
    ).add_cte(images, revived, claimed, messages, received_events.cte("received_events"))


def receive_many(
    session: Session, incoming: Sequence[Incoming], *, intent: Intent, actor: str
) -> list[Received | None]:
    """Record submissions under the active version of their policies (the tenant's own of
    the slug, else the global one) in ONE statement: the
    image rows (once per content), the queued submissions, an outbox row each with a NOTIFY
    to wake the relay, and a ``submission.received`` audit event each. Answers in input
    order; None where nothing was written: an unknown policy, a revoked key, an
    ``Idempotency-Key`` its tenant already used, or an image whose blob was purged (unless
    the item says it stored it again since: ``Incoming.revive``). Atomic even in autocommit
    mode: one round trip, one commit for the lot."""
    rows, ids = [], []
    for idx, item in enumerate(incoming):
        new_id = uuid.uuid4()
        ids.append(new_id)
        claim = item.idempotency
        rows.append(
            {
                **item.image._asdict(),
                "idx": idx,
                "id": str(new_id),
                "tenant_id": str(item.tenant_id),
                "key_id": None if item.key_id is None else str(item.key_id),
                "external_id": item.external_id,
                "policy_slug": item.policy_slug,
                "idempotency_key": claim.key if claim else None,
                "request_sha256": claim.request_sha256 if claim else None,
                "revive_purged_at": revive.isoformat() if (revive := item.revive) else None,
                "trace": item.trace,
            }
        )
    written = {
        row[0]: Received(row[0], row[1], row[2])
        for row in session.connection().execute(
            _receive_statement(intent, actor), {"rows": json.dumps(rows)}
        )
    }
    return [written.get(i) for i in ids]


def image_purged_at(session: Session, sha256: str) -> datetime | None:
    """When the blob of this content was purged (None: stored, or no such image)."""
    return session.scalar(select(Image.purged_at).where(Image.sha256 == sha256))


def get_for_tenant(
    session: Session, submission_id: uuid.UUID, tenant_id: uuid.UUID
) -> tuple[Submission, Image, Decision | None] | None:
    """A tenant's submission with its image and decision; None for unknown or foreign ids."""
    stmt = (
        select(Submission, Image, Decision)
        .join(Image, Image.sha256 == Submission.image_sha256)
        .outerjoin(Decision, Decision.submission_id == Submission.id)
        .where(Submission.id == submission_id, Submission.tenant_id == tenant_id)
    )
    row = session.execute(stmt).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


def lock(session: Session, submission_id: uuid.UUID) -> Submission | None:
    """The submission, row-locked for the rest of the transaction, as the row is now (an
    object the session loaded before is refreshed: its status may have changed since)."""
    return session.get(Submission, submission_id, with_for_update=True, populate_existing=True)


def lock_many(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Submission]:
    """The submissions, row-locked in id order (two writers never wait on each other in a
    circle), as the rows are now."""
    stmt = (
        select(Submission)
        .where(Submission.id.in_(ids))
        .order_by(Submission.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {sub.id: sub for sub in session.scalars(stmt)}


# Advisory locks of one class, keyed by the submission id: a worker holds the ones it works on.
_HOLD = text(
    "SELECT id FROM unnest(CAST(:ids AS uuid[])) AS id "
    "WHERE pg_try_advisory_lock(hashtextextended(id::text, 25))"
)


def hold(connection: Connection, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Take ``connection``'s hold on each submission that no other connection holds; the ids
    held now, in the order given (the others are being worked on by a live worker)."""
    got = {row[0] for row in connection.execute(_HOLD, {"ids": list(ids)})}
    return [sid for sid in ids if sid in got]


def release_holds(connection: Connection) -> None:
    """Let go of every hold ``connection`` has."""
    connection.execute(text("SELECT pg_advisory_unlock_all()"))


_REF = (
    Submission.id,
    Submission.tenant_id,
    Submission.image_sha256,
    Submission.policy_version,
    Submission.attempts,
    Submission.created_at,
    Submission.trace,
)
_NO_SYNC = {"synchronize_session": False}


def start_attempts(
    session: Session,
    ids: Sequence[uuid.UUID],
    max_attempts: int,
    statuses: Sequence[str] = OPEN,
) -> list[SubmissionRef]:
    """Claim the submissions in one of ``statuses`` (default: open) under the attempt cap:
    processing, attempt counted (one statement; the row locks hold until commit)."""
    if not ids:
        return []
    stmt = (
        update(Submission)
        .where(
            Submission.id.in_(ids),
            Submission.status.in_(statuses),
            Submission.attempts < max_attempts,
        )
        .values(status=Status.PROCESSING, attempts=Submission.attempts + 1, updated_at=func.now())
        .returning(*_REF)
    )
    return [SubmissionRef(*row) for row in session.execute(stmt, execution_options=_NO_SYNC)]


def give_back(session: Session, ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Undo the claim of processing submissions whose engine could not judge them (its server
    was down): queued again, the attempt not counted. The ids given back."""
    if not ids:
        return []
    stmt = (
        update(Submission)
        .where(Submission.id.in_(ids), Submission.status == Status.PROCESSING)
        .values(
            status=Status.QUEUED,
            attempts=func.greatest(Submission.attempts - 1, 0),
            updated_at=func.now(),
        )
        .returning(Submission.id)
    )
    return list(session.scalars(stmt, execution_options=_NO_SYNC))


def get_many(session: Session, ids: Sequence[uuid.UUID]) -> list[Submission]:
    """Submissions by id (no lock)."""
    return list(session.scalars(select(Submission).where(Submission.id.in_(ids))))


def finish(session: Session, submission_id: uuid.UUID, status: str, error: str | None) -> bool:
    """Move an open (queued or processing) submission to ``status``: a final one, or back to
    queued. False, and nothing changed, when it is final already (decided or failed by
    another delivery meanwhile): a final status is never overwritten."""
    stmt = (
        update(Submission)
        .where(Submission.id == submission_id, Submission.status.in_(OPEN))
        .values(status=status, error=error, updated_at=func.now())
        .returning(Submission.id)
    )
    return session.execute(stmt, execution_options=_NO_SYNC).first() is not None


# A submission still queued after a re-enqueue is most likely waiting in a long backlog, not
# lost: each re-enqueue doubles the wait before the next one, up to this factor, so a waiting
# submission collects a few duplicate messages instead of one every ``older_than_s``.
MAX_REQUEUE_BACKOFF = 16


def stuck(session: Session, older_than_s: int, limit: int = 500) -> list[Submission]:
    """Row-locked submissions due for a re-enqueue: processing (claimed, never finished) for
    longer than ``older_than_s``; queued for longer than ``older_than_s`` times 2 to the power
    of its re-enqueues so far, at most ``MAX_REQUEUE_BACKOFF`` times."""
    now = func.now()  # the database's clock: every writer stamps updated_at with it
    idle = Submission.updated_at < now - func.make_interval(0, 0, 0, 0, 0, 0, older_than_s)
    requeues = func.greatest(Submission.enqueue_count - 1, 0)
    backoff = func.least(func.power(2, requeues), MAX_REQUEUE_BACKOFF)
    waited = Submission.updated_at < now - func.make_interval(
        0, 0, 0, 0, 0, 0, older_than_s * backoff
    )
    stmt = (
        select(Submission)
        .where(
            Submission.status.in_((Status.QUEUED, Status.PROCESSING)),
            idle,  # the index bound; ``waited`` refines it for queued rows
            or_(Submission.status == Status.PROCESSING, waited),
        )
        .order_by(Submission.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(stmt))


def requeue(session: Session, submission: Submission) -> None:
    """Put a stuck submission back to queued and count the re-enqueue."""
    session.execute(
        update(Submission)
        .where(Submission.id == submission.id)
        .values(
            status=Status.QUEUED,
            enqueue_count=Submission.enqueue_count + 1,
            updated_at=func.now(),
        )
    )


def idempotency_key(
    session: Session, tenant_id: uuid.UUID, key: str
) -> tuple[str, uuid.UUID] | None:
    """(request fingerprint, submission id) a tenant's idempotency key was first used with."""
    row = session.execute(
        select(IdempotencyKey.request_sha256, IdempotencyKey.submission_id).where(
            IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.key == key
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def forget_idempotency_keys(session: Session, older_than_s: int, limit: int = 10_000) -> int:
    """Delete up to ``limit`` idempotency keys older than ``older_than_s``, oldest first (by
    the created_at index); returns how many."""
    return delete_older_than(session, IdempotencyKey.created_at, older_than_s, limit)
