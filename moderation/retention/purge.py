"""The purge: image bytes go once no submission keeps them; decisions, verdicts, hashes,
reviews, appeals and the audit trail stay.

Two steps, each in bounded batches of short transactions (intake never waits long):

1. *expire*: submissions whose image is due stop keeping it (``image_purged_at``), and their
   images are flagged for a blob check (``images.purge_check``), with an audit event each.
2. *collect*: each flagged image is locked exclusively, the submissions that still keep it
   are counted (after the lock: every intake that share-locked it has committed), and when
   there are none its blob is deleted, durably, *before* the transaction that records
   ``images.purged_at`` and clears the flag commits.

A process killed anywhere leaves a consistent state: killed in step 1, nothing committed; in
step 2 before the commit, the blob may be gone but the flag is still set, and every
submission of it already says ``image_purged_at``: the next round deletes (again: a no-op)
and records it. No submission ever keeps an image whose blob is gone, and no blob of an
image flagged for the check outlives the next round.

Intake of the same bytes meanwhile: it share-locks the image row while writing its
submission, so the blob check waits for (or skips) it and then sees the new submission;
an intake that comes after a blob was deleted finds ``images.purged_at`` set, stores the
blob again and writes its row only then (``moderation.submissions.intake.ImagePurged``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from moderation.config import Settings
from moderation.retention import repository as retention
from moderation.storage.blobs import BlobStore
from moderation.storage.db import session_scope


@dataclass(frozen=True)
class PurgeReport:
    """What one purge round did."""

    expired: int  # submissions whose image stopped being kept
    blobs_deleted: int
    blobs_kept: int  # flagged images that another submission still keeps

    def describe(self) -> str:
        """One line for the CLI and the logs."""
        return (
            f"{self.expired} submission images expired; {self.blobs_deleted} blobs deleted, "
            f"{self.blobs_kept} kept (still used by another submission)"
        )


def purge_round(db_url: str, blobs: BlobStore, settings: Settings) -> PurgeReport:
    """Expire every due submission image, then collect every flagged blob (see the module)."""
    batch = settings.image_purge_batch
    expired = 0
    while True:
        with session_scope(db_url) as session:
            done = retention.expire_due(
                session,
                default_days=settings.image_retention_days,
                review_days=settings.review_retention_days,
                sample_rate=settings.review_sample_rate,
                limit=batch,
            )
        expired += len(done)
        if len(done) < batch:
            break
    deleted, kept = collect_blobs(db_url, blobs, batch)
    return PurgeReport(expired, deleted, kept)


def collect_blobs(
    db_url: str, blobs: BlobStore, batch: int, only: Sequence[str] | None = None
) -> tuple[int, int]:
    """Check the flagged images (``only`` these, when given), a batch per transaction;
    (blobs deleted, images still kept)."""
    deleted = kept = 0
    while True:
        with session_scope(db_url) as session:
            checked = retention.lock_blob_checks(session, batch, only)
            keep = retention.still_kept(session, checked)
            gone = [sha for sha in checked if sha not in keep]
            blobs.delete_many(gone)  # before the commit: see the module docstring
            retention.settle_blob_checks(session, checked, gone)
        deleted, kept = deleted + len(gone), kept + len(keep)
        if len(checked) < batch:
            return deleted, kept
