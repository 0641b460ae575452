"""Accepting a submission: blob, rows and the enqueue intent, in the caller's transaction."""

from __future__ import annotations

import uuid

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


def accept_submission(
    session: Session,
    blobs: FileBlobStore,
    *,
    tenant_id: uuid.UUID,
    data: bytes,
    image: ImageInfo,
    policy_slug: str,
    external_id: str | None,
) -> Received:
    """Store an already validated image and queue its moderation (UnknownPolicy if no policy).

    The rows go in as one statement, so an autocommit session makes the whole intake one
    round trip and one commit."""
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
    )
    if received is None:
        raise UnknownPolicy(policy_slug)
    return received
