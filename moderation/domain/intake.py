"""Accepting a submission: blob, rows and the enqueue intent, in the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.domain.images import ImageInfo
from moderation.domain.policy_catalog import UnknownPolicy
from moderation.storage.blobs import FileBlobStore
from moderation.storage.repositories import outbox, submissions
from moderation.storage.repositories.submissions import Received

MODERATE_TASK = "inference.moderate"
INFERENCE_QUEUE = "inference"


def enqueue_moderation(session: Session, submission_id: uuid.UUID) -> int:
    """Write the intent to run ``inference.moderate`` for a submission; returns the outbox id."""
    return outbox.add(
        session, MODERATE_TASK, INFERENCE_QUEUE, {"submission_id": str(submission_id)}
    )


class IdempotencyKeyReused(Exception):
    """An ``Idempotency-Key`` came back with a different request than its first one."""


@dataclass(frozen=True)
class Replayed:
    """A retried request (same ``Idempotency-Key``, same request): nothing new was stored."""

    submission_id: uuid.UUID


def request_fingerprint(image: str, policy_slug: str, external_id: str | None) -> str:
    """What makes two submit requests "the same" for idempotency: the image (its sha256, or
    its URL), the policy and the external id."""
    material = json.dumps([image, policy_slug, external_id])
    return hashlib.sha256(material.encode()).hexdigest()


def accept_submission(
    session: Session,
    blobs: FileBlobStore,
    *,
    tenant_id: uuid.UUID,
    data: bytes,
    image: ImageInfo,
    policy_slug: str,
    external_id: str | None,
    idempotency: submissions.IdempotencyClaim | None = None,
) -> Received | Replayed:
    """Store an already validated image and queue its moderation.

    The rows go in as one statement, so an autocommit session makes the whole intake one
    round trip and one commit. Raises UnknownPolicy, or IdempotencyKeyReused when the key
    came with another request; a retry of the same request is Replayed."""
    blobs.put(image.sha256, data)  # content-addressed: an orphan after a rollback is harmless
    row = submissions.ImageRow(
        image.sha256, image.size_bytes, image.width, image.height, image.format
    )
    received = submissions.receive(
        session,
        tenant_id=tenant_id,
        image=row,
        policy_slug=policy_slug,
        external_id=external_id,
        intent=submissions.Intent(MODERATE_TASK, INFERENCE_QUEUE),
        actor="api",
        idempotency=idempotency,
    )
    if received is not None:
        return received
    if idempotency is not None:
        replay = replay_of(session, tenant_id, idempotency)
        if replay is not None:
            return replay
    raise UnknownPolicy(policy_slug)


def replay_of(
    session: Session, tenant_id: uuid.UUID, idempotency: submissions.IdempotencyClaim
) -> Replayed | None:
    """The submission a known key created, if the request is the same (else
    IdempotencyKeyReused); None for a key not seen yet."""
    found = submissions.idempotency_key(session, tenant_id, idempotency.key)
    if found is None:
        return None
    fingerprint, submission_id = found
    if fingerprint != idempotency.request_sha256:
        raise IdempotencyKeyReused(idempotency.key)
    return Replayed(submission_id)
