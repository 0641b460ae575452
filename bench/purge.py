"""Image purge benchmark (issue #24): purge N expired submissions (each its own blob) in
bounded batches while a thread keeps uploading; reports rows/s and the intake latency during
the purge beside the same intake without one.

    .venv/bin/python -m bench.purge [--rows 100000] [--batch 1000]

Uses MODERATION_DATABASE_URL when set, else an embedded Postgres. The expired rows are made
by SQL (decided, 40 days old, a 200-byte blob file each); uploads go through intake
(``accept_submission``: blob, rows, outbox, audit) one transaction each."""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from contextlib import ExitStack

from sqlalchemy import text

from bench.common import markdown_table, service_database
from moderation.accounts import tenant_repository as tenants
from moderation.config import Settings
from moderation.retention.purge import purge_round
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import session_scope
from moderation.submissions.images import inspect_image
from moderation.submissions.intake import accept_submission
from tests.support import images

_SEED = """
WITH shas AS (
  SELECT i, encode(sha256(convert_to('bench-' || i, 'UTF8')), 'hex') AS sha
  FROM generate_series(1, :n) AS i
), imgs AS (
  INSERT INTO images (sha256, size_bytes, width, height, format)
  SELECT sha, 200, 8, 8, 'PNG' FROM shas RETURNING sha256
)
INSERT INTO submissions (id, tenant_id, image_sha256, policy_version, status, attempts,
                         enqueue_count, created_at, updated_at)
SELECT gen_random_uuid(), :tenant, sha256, :version, 'decided', 1, 1,
       now() - interval '40 days', now() - interval '40 days'
FROM imgs
RETURNING image_sha256
"""


def _seed(db: str, blobs: FileBlobStore, n: int) -> str:
    """N expired decided submissions with their blob files; the tenant's id."""
    with session_scope(db) as session:
        tenant = tenants.create(session, "bench-purge")
        version = session.scalar(text("SELECT active_version FROM policies WHERE slug='default'"))
        shas = session.scalars(text(_SEED), {"n": n, "tenant": tenant.id, "version": version}).all()
    for sha in shas:
        path = blobs.root / sha[:2] / sha[2:4] / sha
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\0" * 200)
    return str(tenant.id)


class Uploads(threading.Thread):
    """Uploads one new image at a time until stopped; the latency of each (seconds)."""

    def __init__(self, db: str, blobs: FileBlobStore, tenant: str, first_seed: int) -> None:
        super().__init__(daemon=True)
        self.db, self.blobs, self.tenant, self.seed = db, blobs, tenant, first_seed
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.seed += 1
            data = images.png(24, 24, seed=self.seed)
            info = inspect_image(data, max_bytes=10**6, max_pixels=10**6)
            started = time.perf_counter()
            with session_scope(self.db) as session:
                accept_submission(
                    session,
                    self.blobs,
                    tenant_id=self.tenant,  # type: ignore[arg-type]
                    data=data,
                    image=info,
                    policy_slug="default",
                    external_id=None,
                )
            self.latencies.append(time.perf_counter() - started)


def _latency_row(name: str, values: list[float]) -> list[object]:
    ms = sorted(v * 1000 for v in values)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return [name, len(ms), f"{statistics.median(ms):.1f}", f"{p99:.1f}", f"{ms[-1]:.1f}"]


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--baseline-s", type=float, default=10.0)
    args = parser.parse_args()
    with ExitStack() as stack:
        db, base = service_database(stack)
        settings = Settings(
            database_url=db,
            data_dir=base / "data",
            image_retention_days=30,
            image_purge_batch=args.batch,
        )
        blobs = FileBlobStore(settings.resolved_blob_dir)
        tenant = _seed(db, blobs, args.rows)

        baseline = Uploads(db, blobs, tenant, 1_000_000)
        baseline.start()
        time.sleep(args.baseline_s)
        baseline.stop.set()
        baseline.join()

        during = Uploads(db, blobs, tenant, 2_000_000)
        during.start()
        started = time.perf_counter()
        report = purge_round(db, blobs, settings)
        seconds = time.perf_counter() - started
        during.stop.set()
        during.join()
    print(
        markdown_table(
            ["rows purged", "batch", "blobs deleted", "seconds", "rows/s"],
            [
                [
                    report.expired,
                    args.batch,
                    report.blobs_deleted,
                    f"{seconds:.1f}",
                    f"{report.expired / seconds:,.0f}",
                ]
            ],
        )
    )
    print()
    print(
        markdown_table(
            ["intake (one upload per transaction)", "uploads", "p50 ms", "p99 ms", "max ms"],
            [
                _latency_row("without a purge", baseline.latencies),
                _latency_row("during the purge", during.latencies),
            ],
        )
    )


if __name__ == "__main__":
    main()
