"""Accepting a submission: blob, rows and the enqueue intent, in the caller's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from moderation.domain.images import ImageInfo
from moderation.domain.policy_catalog import UnknownPolicy
from moderation.storage.blobs import FileBlobStore
from moderation.storage.repositories import audit, outbox, submissions
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
    """Store an already validated image and queue its moderation (UnknownPolicy if no policy)."""
    blobs.put(image.sha256, data)  # content-addressed: an orphan after a rollback is harmless
    submissions.add_image(
        session, image.sha256, image.size_bytes, image.width, image.height, image.format
    )
    received = submissions.add_under_active_policy(
        session, tenant_id, image.sha256, policy_slug, external_id
    )
    if received is None:
        raise UnknownPolicy(policy_slug)
    enqueue_moderation(session, received.id)
    audit.append(
        session,
        tenant_id=tenant_id,
        subject_type="submission",
        subject_id=str(received.id),
        event="submission.received",
        actor="api",
        data={"policy_version": received.policy_version, "image_sha256": image.sha256},
    )
    return received
