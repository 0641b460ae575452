"""Submissions to purge: stored through intake, then decided, aged, held by SQL."""

from __future__ import annotations

import uuid
from pathlib import Path

from moderation.config import Settings
from moderation.retention.purge import PurgeReport, purge_round
from moderation.storage.blobs import FileBlobStore
from tests.support.db import execute, rows
from tests.support.intake import accept_many


def store(db: str, blobs: Path, seed: int, tenant: str = "keeper") -> uuid.UUID:
    """One queued submission of the PNG of ``seed`` (the same seed: the same bytes)."""
    ((sid, _),) = accept_many(db, blobs, [seed], tenant)
    return uuid.UUID(sid)


def decide(db: str, *ids: uuid.UUID, days_old: float = 0) -> None:
    """Mark submissions decided, uploaded ``days_old`` days ago."""
    execute(
        db,
        "UPDATE submissions SET status = 'decided', "
        "created_at = now() - make_interval(secs => :s) WHERE id = ANY(:ids)",
        s=days_old * 86_400,
        ids=list(ids),
    )


def purge(db: str, blobs: Path, **settings: object) -> PurgeReport:
    """One purge round with retention 0 days and no review sample unless told otherwise."""
    options: dict[str, object] = {
        "database_url": db,
        "image_retention_days": 0,
        "review_sample_rate": 0.0,
        **settings,
    }
    return purge_round(db, FileBlobStore(blobs), Settings(**options))  # type: ignore[arg-type]


def stored_files(blobs: Path) -> set[str]:
    """The sha256 of every blob file on disk."""
    return {p.name for p in blobs.glob("??/??/*") if not p.name.startswith(".")}


def sha_of(db: str, submission_id: uuid.UUID) -> str:
    """The image sha256 of a submission."""
    return str(
        rows(db, "SELECT image_sha256 FROM submissions WHERE id = :i", i=submission_id)[0][
            "image_sha256"
        ]
    )


def purged_at(db: str, submission_id: uuid.UUID) -> object:
    """The submission's image_purged_at."""
    found = rows(db, "SELECT image_purged_at FROM submissions WHERE id = :i", i=submission_id)
    return found[0]["image_purged_at"]


def consistency(db: str, blobs: Path) -> tuple[set[str], set[str]]:
    """(kept images whose file is missing, files of images that nobody keeps and that are
    not waiting for the blob check): both must be empty once a round has finished."""
    files = stored_files(blobs)
    kept = {
        str(r["image_sha256"])
        for r in rows(db, "SELECT image_sha256 FROM submissions WHERE image_purged_at IS NULL")
    }
    settled_unkept = {
        str(r["sha256"])
        for r in rows(
            db,
            "SELECT sha256 FROM images i WHERE NOT purge_check AND NOT EXISTS ("
            "SELECT 1 FROM submissions s WHERE s.image_sha256 = i.sha256 "
            "AND s.image_purged_at IS NULL)",
        )
    }
    return kept - files, files & settled_unkept
