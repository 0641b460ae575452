"""The sweeper: nothing accepted is lost. Re-queues stuck submissions and lost webhook
deliveries, relays the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from moderation.audit import repository as audit
from moderation.outbox import repository as outbox
from moderation.outbox.relay import Publish, relay_outbox
from moderation.storage.db import session_scope
from moderation.submissions import repository as submissions
from moderation.submissions.intake import enqueue_moderation
from moderation.submissions.types import Status
from moderation.webhooks.events import MODERATION_FAILED, emit_events, resend_overdue_deliveries


@dataclass(frozen=True)
class SweepReport:
    """Counts of one sweep."""

    requeued: int
    failed: int
    relayed: int
    forgotten_keys: int = 0
    webhooks_resent: int = 0
    pruned_outbox: int = 0


def sweep_flow(
    db_url: str,
    publish: Publish,
    *,
    stuck_after_s: int,
    max_attempts: int,
    webhook_grace_s: float = 60,
    idempotency_ttl_s: int = 86_400,
    outbox_retention_s: int = 86_400,
) -> SweepReport:
    """Re-enqueue submissions stuck in queued/processing (see ``submissions.stuck``); fail
    those whose attempts reached the cap; re-send webhook deliveries overdue by more than
    ``webhook_grace_s``; relay the outbox; forget expired idempotency keys and prune
    messages sent more than ``outbox_retention_s`` ago."""
    requeued = 0
    failed: list[uuid.UUID] = []
    with session_scope(db_url) as session:
        found = submissions.stuck(session, stuck_after_s)  # row-locked, none waited for
        audit.lock_chains(session, (sub.tenant_id for sub in found))
        for sub in found:
            # Only claims count: re-enqueues of a submission waiting in a long backlog are
            # not tries. A worker cannot die before its claim counts: the claim commits on
            # its own, before any image is loaded or the model runs.
            if sub.attempts >= max_attempts:
                error = f"gave up after {sub.attempts} attempts; last error: {sub.error or 'none'}"
                if not submissions.finish(session, sub.id, Status.FAILED, error):
                    continue  # the row is locked: only a bug could make it final here
                event = "submission.failed"
                failed.append(sub.id)
            else:
                submissions.requeue(session, sub)
                enqueue_moderation(session, sub.id, sub.trace)
                event, requeued = "submission.requeued", requeued + 1
            audit.append(
                session,
                tenant_id=sub.tenant_id,
                subject_type="submission",
                subject_id=str(sub.id),
                event=event,
                actor="sweeper",
                data={"attempts": sub.attempts, "enqueue_count": sub.enqueue_count},
            )
        emit_events(session, MODERATION_FAILED, failed)
        resent = resend_overdue_deliveries(session, webhook_grace_s)
    # housekeeping in short transactions of its own, a bounded batch each per sweep: the
    # transaction above holds submission locks and chain heads that intake waits for
    with session_scope(db_url) as session:
        forgotten = submissions.forget_idempotency_keys(session, idempotency_ttl_s)
    with session_scope(db_url) as session:
        pruned = outbox.prune_sent(session, outbox_retention_s)
    relayed = relay_outbox(db_url, publish)
    return SweepReport(
        requeued=requeued,
        failed=len(failed),
        relayed=relayed,
        webhooks_resent=resent,
        forgotten_keys=forgotten,
        pruned_outbox=pruned,
    )
