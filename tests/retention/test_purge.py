"""The purge round on real Postgres and a real blob directory: what goes, what stays (held,
open, under review, shared), idempotence, and intake of bytes whose blob is being purged."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from moderation.storage.db import normalize_url
from tests.retention.support import (
    consistency,
    decide,
    purge,
    purged_at,
    sha_of,
    store,
    stored_files,
)
from tests.support.db import count, execute, rows


def test_retention_zero_purges_decided_images_only(
    make_db: Callable[[], str], tmp_path: Path
) -> None:
    db, blobs = make_db(), tmp_path / "blobs"
    gone = store(db, blobs, 1)
    held = store(db, blobs, 2)
    queued = store(db, blobs, 3)
    appealed = store(db, blobs, 4)
    shared_done, shared_open = store(db, blobs, 5), store(db, blobs, 5)
    decide(db, gone, held, appealed, shared_done)
    execute(
        db,
        "UPDATE submissions SET legal_hold_at = now(), legal_hold_reason = 'police' WHERE id = :i",
        i=held,
    )
    execute(
        db,
        "INSERT INTO appeals (id, submission_id, tenant_id, reason, status) "
        "SELECT :a, id, tenant_id, 'please', 'open' FROM submissions WHERE id = :i",
        a=uuid.uuid4(),
        i=appealed,
    )

    report = purge(db, blobs)

    assert (report.expired, report.blobs_deleted, report.blobs_kept) == (2, 1, 1)
    assert stored_files(blobs) == {sha_of(db, s) for s in (held, queued, appealed, shared_open)}
    assert purged_at(db, gone) is not None and purged_at(db, shared_done) is not None
    assert all(purged_at(db, s) is None for s in (held, queued, appealed, shared_open))
    image = rows(
        db, "SELECT purged_at, purge_check FROM images WHERE sha256 = :s", s=sha_of(db, gone)
    )
    assert image[0]["purged_at"] is not None and image[0]["purge_check"] is False
    events = rows(
        db,
        "SELECT subject_id, actor FROM audit_events WHERE event = 'image.purged' ORDER BY id",
    )
    assert {e["subject_id"] for e in events} == {str(gone), str(shared_done)}
    assert {e["actor"] for e in events} == {"retention"}
    assert consistency(db, blobs) == (set(), set())

    again = purge(db, blobs)  # idempotent: nothing left to do
    assert (again.expired, again.blobs_deleted) == (0, 0)
    # past the review cap, the appealed one goes too; the held one never does
    execute(db, "UPDATE submissions SET created_at = now() - interval '91 days'")
    late = purge(db, blobs)
    assert late.expired == 1 and purged_at(db, appealed) is not None
    assert purged_at(db, held) is None and sha_of(db, held) in stored_files(blobs)


def test_a_shared_blob_stays_until_the_later_retention_ends(
    make_db: Callable[[], str], tmp_path: Path
) -> None:
    db, blobs = make_db(), tmp_path / "blobs"
    short, long = store(db, blobs, 11, "short-keeper"), store(db, blobs, 11, "long-keeper")
    execute(db, "UPDATE tenants SET image_retention_days = 1 WHERE name = 'short-keeper'")
    execute(db, "UPDATE tenants SET image_retention_days = 10 WHERE name = 'long-keeper'")
    decide(db, short, long, days_old=5)
    sha = sha_of(db, short)

    first = purge(db, blobs, image_retention_days=30)
    assert first.expired == 1 and purged_at(db, short) is not None
    assert purged_at(db, long) is None and sha in stored_files(blobs)

    decide(db, long, days_old=11)
    second = purge(db, blobs, image_retention_days=30)
    assert (second.expired, second.blobs_deleted) == (1, 1)
    assert sha not in stored_files(blobs)
    assert consistency(db, blobs) == (set(), set())


def test_uploading_purged_bytes_again_stores_the_blob_again(
    make_db: Callable[[], str], tmp_path: Path
) -> None:
    db, blobs = make_db(), tmp_path / "blobs"
    old = store(db, blobs, 21)
    decide(db, old)
    purge(db, blobs)
    sha = sha_of(db, old)
    assert sha not in stored_files(blobs)

    new = store(db, blobs, 21)  # intake finds the image purged, stores it again

    assert sha in stored_files(blobs) and purged_at(db, new) is None
    image = rows(db, "SELECT purged_at FROM images WHERE sha256 = :s", s=sha)
    assert image[0]["purged_at"] is None
    assert consistency(db, blobs) == (set(), set())


def test_an_upload_racing_the_blob_check_keeps_its_blob(
    make_db: Callable[[], str], tmp_path: Path
) -> None:
    """The purge holds the image's lock, deletes the file and commits while an intake of the
    same bytes has already found the file stored: the intake waits for the lock, sees the
    purge, stores the blob again and only then writes its row."""
    db, blobs = make_db(), tmp_path / "blobs"
    old = store(db, blobs, 31)
    decide(db, old)
    sha = sha_of(db, old)
    execute(db, "UPDATE submissions SET image_purged_at = now() WHERE id = :i", i=old)
    engine = create_engine(normalize_url(db))
    made: list[uuid.UUID] = []
    with engine.begin() as purger:
        purger.execute(text("SELECT 1 FROM images WHERE sha256 = :s FOR UPDATE"), {"s": sha})
        upload = threading.Thread(target=lambda: made.append(store(db, blobs, 31)))
        upload.start()  # its blob write finds the file; its row waits for the lock
        upload.join(timeout=2)
        assert upload.is_alive(), "intake must wait for the purge's lock"
        (blobs / sha[:2] / sha[2:4] / sha).unlink()
        purger.execute(
            text("UPDATE images SET purged_at = now(), purge_check = false WHERE sha256 = :s"),
            {"s": sha},
        )
    upload.join(timeout=30)
    engine.dispose()
    assert made and purged_at(db, made[0]) is None
    assert sha in stored_files(blobs)
    assert consistency(db, blobs) == (set(), set())
    assert count(db, "images WHERE sha256 = :s AND purged_at IS NULL", s=sha) == 1
