"""Erasure on request and legal holds of one submission's image (API and console)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.retention import repository as retention
from moderation.retention.purge import collect_blobs
from moderation.storage.blobs import BlobStore
from moderation.storage.db import session_scope
from moderation.submissions.models import Submission
from moderation.submissions.types import OPEN


class SubmissionNotFound(LookupError):
    """No such submission of this tenant."""


class ImageOnHold(Exception):
    """A legal hold keeps the image: it cannot be erased until the hold is released."""


class StillModerating(Exception):
    """The submission is queued or being moderated: its image is still needed."""


class ImageAlreadyDeleted(Exception):
    """The image was deleted already: a hold would preserve nothing."""


@dataclass(frozen=True)
class Requester:
    """Who asks: the tenant whose submission it must be (None: a console admin of all
    tenants) and the actor written to the audit trail."""

    tenant_id: uuid.UUID | None
    actor: str


def _locked(session: Session, submission_id: uuid.UUID, who: Requester) -> Submission:
    sub = retention.lock_for_tenant(session, submission_id, who.tenant_id)
    if sub is None:
        raise SubmissionNotFound(str(submission_id))
    return sub


def erase_image(db_url: str, blobs: BlobStore, submission_id: uuid.UUID, who: Requester) -> bool:
    """Delete the submission's image now (the decision stays); False when it was deleted
    already. Raises ImageOnHold, StillModerating or SubmissionNotFound."""
    with session_scope(db_url) as session:
        sub = _locked(session, submission_id, who)
        if sub.legal_hold_at is not None:
            raise ImageOnHold(f"the image is under a legal hold: {sub.legal_hold_reason}")
        if sub.status in OPEN:
            raise StillModerating(
                f"the submission is {sub.status}: erase its image once it is decided"
            )
        if sub.image_purged_at is not None:
            return False
        retention.mark_erased(session, [sub.id], event="image.erased", actor=who.actor)
        sha256 = sub.image_sha256
    # the blob goes now unless another submission keeps it (or an intake of the same bytes
    # holds it this instant: then the next purge round checks it)
    collect_blobs(db_url, blobs, batch=1, only=[sha256])
    return True


def place_hold(db_url: str, submission_id: uuid.UUID, reason: str, who: Requester) -> None:
    """Put the image under a legal hold (a new reason replaces the old one). Raises
    ImageAlreadyDeleted or SubmissionNotFound."""
    with session_scope(db_url) as session:
        sub = _locked(session, submission_id, who)
        if sub.image_purged_at is not None:
            raise ImageAlreadyDeleted(
                f"the image was deleted at {sub.image_purged_at.isoformat()}: nothing to hold"
            )
        retention.set_hold(session, sub, reason, who.actor)
        _audit(session, sub, "legal_hold.placed", who, {"reason": reason})


def release_hold(db_url: str, submission_id: uuid.UUID, who: Requester) -> bool:
    """Release the legal hold (the image is purged when due again); False: there was none."""
    with session_scope(db_url) as session:
        sub = _locked(session, submission_id, who)
        if sub.legal_hold_at is None:
            return False
        retention.set_hold(session, sub, None, None)
        _audit(session, sub, "legal_hold.released", who, {"reason": sub.legal_hold_reason})
        return True


def _audit(
    session: Session, sub: Submission, event: str, who: Requester, data: dict[str, object]
) -> None:
    audit.append(
        session,
        tenant_id=sub.tenant_id,
        subject_type="submission",
        subject_id=str(sub.id),
        event=event,
        actor=who.actor,
        data=data,
    )
