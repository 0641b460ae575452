"""Images, submissions and their status transitions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    Uuid,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.selectable import CTE
from sqlalchemy.types import TypeEngine

from moderation.storage.models import (
    AuditEvent,
    Decision,
    IdempotencyKey,
    Image,
    OutboxMessage,
    Policy,
    Submission,
)
from moderation.storage.repositories.outbox import CHANNEL as OUTBOX_CHANNEL

QUEUED, PROCESSING, DECIDED, FAILED = "queued", "processing", "decided", "failed"
FINAL = (DECIDED, FAILED)


def _now() -> datetime:
    return datetime.now(UTC)


class Received(NamedTuple):
    """A stored submission, as the intake reports it."""

    id: uuid.UUID
    policy_version: str
    created_at: datetime


class ImageRow(NamedTuple):
    """The metadata row of a content-addressed image."""

    sha256: str
    size_bytes: int
    width: int
    height: int
    format: str


class Intent(NamedTuple):
    """A task message to send once the submission is committed (the outbox row)."""

    task: str
    queue: str


def _receive_statement(idempotent: bool) -> Select[tuple[uuid.UUID, str, datetime, Any]]:
    """The intake statement, built once: parameters are bound at execution. ``idempotent``:
    also claim ``(tenant, idempotency key)``; a key already taken writes nothing."""
    types: dict[str, TypeEngine[Any]] = {
        "id": Uuid(),
        "tenant_id": Uuid(),
        "external_id": String(),
        "sha256": String(),
        "size_bytes": BigInteger(),
        "width": Integer(),
        "height": Integer(),
        "format": String(),
        "policy_slug": String(),
        "task": String(),
        "queue": String(),
        "actor": String(),
        "idempotency_key": String(),
        "request_sha256": String(),
    }
    p: dict[str, BindParameter[Any]] = {name: bindparam(name, type_=t) for name, t in types.items()}
    image_row = (
        insert(Image)
        .values(
            sha256=p["sha256"],
            size_bytes=p["size_bytes"],
            width=p["width"],
            height=p["height"],
            format=p["format"],
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
        .cte("image_row")
    )
    submission_cols: dict[str, Any] = {
        "id": p["id"],
        "tenant_id": p["tenant_id"],
        "external_id": p["external_id"],
        "image_sha256": p["sha256"],
        "policy_version": Policy.active_version,
        "status": literal(QUEUED, String()),
        "attempts": literal(0, Integer()),
        "enqueue_count": literal(1, Integer()),
    }
    source = select(*submission_cols.values()).where(Policy.slug == p["policy_slug"])
    ctes: list[CTE] = [image_row]
    if idempotent:
        key_row = (
            insert(IdempotencyKey)
            .from_select(
                ["tenant_id", "key", "request_sha256", "submission_id"],
                select(p["tenant_id"], p["idempotency_key"], p["request_sha256"], p["id"]).where(
                    Policy.slug == p["policy_slug"]
                ),
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            .returning(IdempotencyKey.submission_id)
            .cte("key_row")
        )
        source = source.where(exists(select(key_row.c.submission_id)))
        ctes.append(key_row)
    submission = (
        insert(Submission)
        .from_select(list(submission_cols), source)
        .returning(Submission.id, Submission.policy_version, Submission.created_at)
        .cte("submission")
    )
    sid = cast(submission.c.id, String())
    message = insert(OutboxMessage).from_select(
        ["task", "queue", "args", "attempts"],
        select(
            p["task"], p["queue"], func.jsonb_build_object("submission_id", sid), literal(0)
        ).select_from(submission),
    )
    received_event = insert(AuditEvent).from_select(
        ["tenant_id", "subject_type", "subject_id", "event", "actor", "data"],
        select(
            p["tenant_id"],
            literal("submission", String()),
            sid,
            literal("submission.received", String()),
            p["actor"],
            func.jsonb_build_object(
                "policy_version", submission.c.policy_version, "image_sha256", p["sha256"]
            ),
        ).select_from(submission),
    )
    return select(
        submission.c.id,
        submission.c.policy_version,
        submission.c.created_at,
        func.pg_notify(OUTBOX_CHANNEL, ""),
    ).add_cte(*ctes, message.cte("message"), received_event.cte("received_event"))


_RECEIVE = {False: _receive_statement(False), True: _receive_statement(True)}


class IdempotencyClaim(NamedTuple):
    """An ``Idempotency-Key`` and the fingerprint of the request it came with."""

    key: str
    request_sha256: str


def receive(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    image: ImageRow,
    policy_slug: str,
    external_id: str | None,
    intent: Intent,
    actor: str,
    idempotency: IdempotencyClaim | None = None,
) -> Received | None:
    """Record a submission under the active version of ``policy_slug`` in ONE statement: the
    image row (once per content), the queued submission, its outbox row with a NOTIFY to wake
    the relay, and a ``submission.received`` audit event. None (nothing written) when no such
    policy exists, or when ``idempotency`` names a key the tenant already used. Atomic even in
    autocommit mode: one round trip, one commit."""
    params = {
        **image._asdict(),
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "external_id": external_id,
        "policy_slug": policy_slug,
        "task": intent.task,
        "queue": intent.queue,
        "actor": actor,
        "idempotency_key": idempotency.key if idempotency else None,
        "request_sha256": idempotency.request_sha256 if idempotency else None,
    }
    row = session.execute(_RECEIVE[idempotency is not None], params).one_or_none()
    return None if row is None else Received(row[0], row[1], row[2])


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
    """The submission, row-locked for the rest of the transaction."""
    return session.get(Submission, submission_id, with_for_update=True)


class SubmissionRef(NamedTuple):
    """The columns the worker needs of a submission it holds."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    image_sha256: str
    policy_version: str
    attempts: int


_REF = (
    Submission.id,
    Submission.tenant_id,
    Submission.image_sha256,
    Submission.policy_version,
    Submission.attempts,
)
_NO_SYNC = {"synchronize_session": False}


def start_attempts(
    session: Session, ids: Sequence[uuid.UUID], max_attempts: int
) -> list[SubmissionRef]:
    """Claim the open submissions under the attempt cap: processing, attempt counted (one
    statement; the row locks hold until commit)."""
    if not ids:
        return []
    stmt = (
        update(Submission)
        .where(
            Submission.id.in_(ids),
            Submission.status.in_((QUEUED, PROCESSING)),
            Submission.attempts < max_attempts,
        )
        .values(status=PROCESSING, attempts=Submission.attempts + 1, updated_at=_now())
        .returning(*_REF)
    )
    return [SubmissionRef(*row) for row in session.execute(stmt, execution_options=_NO_SYNC)]


def get_many(session: Session, ids: Sequence[uuid.UUID]) -> list[Submission]:
    """Submissions by id (no lock)."""
    return list(session.scalars(select(Submission).where(Submission.id.in_(ids))))


def finish(session: Session, submission: Submission, status: str, error: str | None) -> None:
    """Move a submission to a final status."""
    submission.status = status
    submission.error = error
    submission.updated_at = _now()
    session.flush()


# A submission still queued after a re-enqueue is most likely waiting in a long backlog, not
# lost: each re-enqueue doubles the wait before the next one, up to this factor, so a waiting
# submission collects a few duplicate messages instead of one every ``older_than_s``.
MAX_REQUEUE_BACKOFF = 16


def stuck(session: Session, older_than_s: int, limit: int = 500) -> list[Submission]:
    """Row-locked submissions due for a re-enqueue: processing (claimed, never finished) for
    longer than ``older_than_s``; queued for longer than ``older_than_s`` times 2 to the power
    of its re-enqueues so far, at most ``MAX_REQUEUE_BACKOFF`` times."""
    now = _now()
    idle = Submission.updated_at < now - timedelta(seconds=older_than_s)
    requeues = func.greatest(Submission.enqueue_count - 1, 0)
    backoff = func.least(func.power(2, requeues), MAX_REQUEUE_BACKOFF)
    waited = Submission.updated_at < now - func.make_interval(
        0, 0, 0, 0, 0, 0, older_than_s * backoff
    )
    stmt = (
        select(Submission)
        .where(
            Submission.status.in_((QUEUED, PROCESSING)),
            idle,  # the index bound; ``waited`` refines it for queued rows
            or_(Submission.status == PROCESSING, waited),
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
        .values(status=QUEUED, enqueue_count=Submission.enqueue_count + 1, updated_at=_now())
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


def forget_idempotency_keys(session: Session, older_than_s: int) -> int:
    """Delete idempotency keys older than ``older_than_s``; returns how many."""
    cutoff = _now() - timedelta(seconds=older_than_s)
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
