"""Accepting a submission: blob, rows and the enqueue intent, in the caller's transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.domain.images import ImageInfo
from moderation.domain.policy_catalog import active_policy
from moderation.storage.blobs import FileBlobStore
from moderation.storage.models import Submission
from moderation.storage.repositories import audit, outbox, submissions

MODERATE_TASK = "inference.moderate"
INFERENCE_QUEUE = "inference"


@dataclass(frozen=True)
class Accepted:
    """A stored submission and the outbox message that will queue it."""

    submission: Submission
    outbox_id: int


def enqueue_moderation(session: Session, submission_id: uuid.UUID) -> int:
    """Write the intent to run ``inference.moderate`` for a submission; returns the outbox id."""
    message = outbox.add(
        session, MODERATE_TASK, INFERENCE_QUEUE, {"submission_id": str(submission_id)}
    )
    return message.id


def accept_submission(
    session: Session,
    blobs: FileBlobStore,
    *,
    tenant_id: uuid.UUID,
    data: bytes,
    image: ImageInfo,
    policy_slug: str,
    external_id: str | None,
) -> Accepted:
    """Store an already validated image and queue its moderation (UnknownPolicy if no policy)."""
    version, _ = active_policy(session, policy_slug)
    blobs.put(image.sha256, data)  # content-addressed: an orphan after a rollback is harmless
    submissions.add_image(
        session, image.sha256, image.size_bytes, image.width, image.height, image.format
    )
    submission = submissions.add(session, tenant_id, image.sha256, version, external_id)
    outbox_id = enqueue_moderation(session, submission.id)
    audit.append(
        session,
        tenant_id=tenant_id,
        subject_type="submission",
        subject_id=str(submission.id),
        event="submission.received",
        actor="api",
        data={"policy_version": version, "image_sha256": image.sha256},
    )
    return Accepted(submission=submission, outbox_id=outbox_id)
