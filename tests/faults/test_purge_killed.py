"""A purge round killed with SIGKILL in the middle (after deleting a batch of blobs, before
recording it) and run again ends consistent: rows vs files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.retention.support import consistency, decide, purge, store, stored_files
from tests.support.db import count

# one purge round, two images per transaction, killed right after the second batch's deletes
_KILLED_ROUND = """
import os, signal, sys
from moderation.config import Settings
from moderation.retention.purge import purge_round
from moderation.storage.blobs import FileBlobStore

calls = []
real_delete = FileBlobStore.delete_many

def delete_then_die(self, shas):
    real_delete(self, shas)
    calls.append(shas)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)

FileBlobStore.delete_many = delete_then_die
db, blobs = sys.argv[1], sys.argv[2]
settings = Settings(
    database_url=db, image_retention_days=0, review_sample_rate=0.0, image_purge_batch=2
)
purge_round(db, FileBlobStore(__import__("pathlib").Path(blobs)), settings)
"""


def test_a_purge_killed_mid_round_is_finished_by_the_next(
    make_db: Callable[[], str], tmp_path: Path
) -> None:
    db, blobs = make_db(), tmp_path / "blobs"
    done = [store(db, blobs, seed) for seed in range(41, 49)]
    kept = store(db, blobs, 99)  # queued: stays
    decide(db, *done)

    killed = subprocess.run([sys.executable, "-c", _KILLED_ROUND, db, str(blobs)], check=False)

    assert killed.returncode == -9
    # between the two steps: every image whose file is gone is not kept by any submission
    missing_kept, _ = consistency(db, blobs)
    assert missing_kept == set()
    assert count(db, "images WHERE purge_check") > 0  # the killed batch is still flagged
    assert len(stored_files(blobs)) < 9  # the first batches' blobs are gone

    report = purge(db, blobs)

    assert report.expired == 0 and report.blobs_deleted > 0
    assert consistency(db, blobs) == (set(), set())
    assert count(db, "images WHERE purge_check") == 0
    assert count(db, "images WHERE purged_at IS NOT NULL") == 8
    assert count(db, "submissions WHERE image_purged_at IS NULL") == 1 == len(stored_files(blobs))
    assert kept
