"""Accepting a submission: blob, rows and the enqueue intent, in the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from moderation.accounts import api_key_repository as api_keys
from moderation.outbox import repository as outbox
from moderation.outbox.queues import INFERENCE_QUEUE, MODERATE_TASK
from moderation.policies.catalog import UnknownPolicy
from moderation.storage.blobs import BlobStore
from moderation.submissions import repository as submissions
from moderation.submissions.images import ImageInfo
from moderation.submissions.types import IdempotencyClaim, ImageRow, Incoming, Intent, Received


def enqueue_moderation(
    session: Session, submission_id: uuid.UUID, trace: dict[str, Any] | None = None
) -> int:
    """Write the intent to run ``inference.moderate`` for a submission (with its upload's
    request id and trace context, ``trace``); returns the outbox id."""
    return outbox.add(
        session, MODERATE_TASK, INFERENCE_QUEUE, {"submission_id": str(submission_id)}, trace
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


class KeyRevoked(Exception):
    """The API key was revoked before the submission could be stored."""


class ImagePurged(Exception):
    """The blob of the image was purged (at ``purged_at``) after this upload stored it: store
    it again, then retry with ``Incoming.revive = purged_at``."""

    def __init__(self, sha256: str, purged_at: datetime) -> None:
        super().__init__(f"the blob {sha256} was purged at {purged_at.isoformat()}")
        self.sha256, self.purged_at = sha256, purged_at


# a blob purged again while its upload stored it again, this many times: give up (the client
# retries); only a purge round per upload, of content nobody else keeps, could get there
MAX_REVIVALS = 3


Accepted = Received | Replayed


def accept_submission(
    session: Session,
    blobs: BlobStore,
    *,
    tenant_id: uuid.UUID,
    data: bytes,
    image: ImageInfo,
    policy_slug: str,
    external_id: str | None,
    idempotency: IdempotencyClaim | None = None,
) -> Accepted:
    """Store an already validated image and queue its moderation (see :func:`accept_many`)."""
    blobs.put(image.sha256, data)  # content-addressed: an orphan after a rollback is harmless
    incoming = Incoming(
        tenant_id, image_row(image), policy_slug, external_id, idempotency=idempotency
    )
    for _ in range(MAX_REVIVALS):
        outcome = accept_many(session, [incoming])[0]
        if not isinstance(outcome, ImagePurged):
            break
        blobs.put(image.sha256, data)  # purged since the put above: store it again
        incoming = incoming._replace(revive=outcome.purged_at)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def image_row(image: ImageInfo) -> ImageRow:
    """The metadata row of an inspected image."""
    return ImageRow(image.sha256, image.size_bytes, image.width, image.height, image.format)


def accept_many(session: Session, incoming: Sequence[Incoming]) -> list[Accepted | Exception]:
    """Queue the moderation of submissions whose blobs are stored, in input order.

    The rows go in as one statement, so an autocommit session makes the intake of the lot
    one round trip and one commit (group commit). An item not written gets its reason: the
    retry of an earlier request (Replayed), or KeyRevoked, IdempotencyKeyReused, ImagePurged
    or UnknownPolicy."""
    written = submissions.receive_many(
        session, incoming, intent=Intent(MODERATE_TASK, INFERENCE_QUEUE), actor="api"
    )
    return [
        received if received is not None else _not_written(session, item)
        for item, received in zip(incoming, written, strict=True)
    ]


def _not_written(session: Session, item: Incoming) -> Replayed | Exception:
    if item.key_id is not None and not api_keys.is_active(session, item.key_id):
        return KeyRevoked(str(item.key_id))
    if item.idempotency is not None:
        try:
            replay = replay_of(session, item.tenant_id, item.idempotency)
        except IdempotencyKeyReused as exc:
            return exc
        if replay is not None:
            return replay
    purged_at = submissions.image_purged_at(session, item.image.sha256)
    if purged_at is not None and purged_at != item.revive:
        return ImagePurged(item.image.sha256, purged_at)
    return UnknownPolicy(item.policy_slug)


def replay_of(
    session: Session, tenant_id: uuid.UUID, idempotency: IdempotencyClaim
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
