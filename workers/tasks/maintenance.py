"""Tasks ``maintenance.sweep`` (re-queue stuck submissions and lost webhooks, relay the
outbox) and ``maintenance.purge_images`` (image retention)."""

from __future__ import annotations

from dataclasses import asdict

from moderation.config import get_settings
from moderation.outbox.queues import PURGE_TASK, SWEEP_TASK
from moderation.retention.purge import purge_round
from moderation.storage.blobs import blob_store
from moderation.submissions.sweeper import sweep_flow
from workers import runtime
from workers.app import app, publish


@app.task(name=SWEEP_TASK)
def sweep() -> dict[str, int]:
    """One sweep over the submissions and the outbox."""
    settings = get_settings()
    report = sweep_flow(
        runtime.database_url(),
        publish,
        stuck_after_s=settings.stuck_after_s,
        max_attempts=settings.max_attempts,
        idempotency_ttl_s=settings.idempotency_ttl_s,
        outbox_retention_s=settings.outbox_retention_s,
        webhook_grace_s=settings.webhook_sweep_grace_s,
    )
    return asdict(report)


@app.task(name=PURGE_TASK)
def purge_images() -> dict[str, int]:
    """One purge round: expired images go, blobs no submission keeps are deleted."""
    settings = get_settings()
    report = purge_round(runtime.database_url(), blob_store(settings), settings)
    return asdict(report)
