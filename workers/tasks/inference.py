"""Task ``inference.moderate``: decide submissions, batched dynamically (ids only in messages).

celery-batches buffers the messages a worker prefetched and hands them over as one list when
``MODERATION_BATCH_SIZE`` arrived or every ``MODERATION_BATCH_WAIT_MS``; with late acks the
messages are acknowledged only after the whole batch is recorded, so a worker that dies
mid-batch has every message of the batch redelivered.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery_batches import Batches, SimpleRequest

from moderation.config import get_settings
from moderation.outbox.queues import INFERENCE_QUEUE, MODERATE_TASK
from moderation.submissions.moderation_flow import moderate_submissions_flow
from workers import runtime
from workers.app import app

log = logging.getLogger(__name__)
RETRY_DELAY_S = 5
_settings = get_settings()


def _submission_ids(requests: list[SimpleRequest]) -> list[uuid.UUID]:
    """The well-formed submission ids of a batch; malformed messages are logged and dropped."""
    ids = []
    for request in requests:
        raw = (request.kwargs or {}).get("submission_id", (request.args or [None])[0])
        try:
            ids.append(uuid.UUID(str(raw)))
        except ValueError:
            log.error("inference.moderate got a malformed submission id %r; dropped", raw)
    return list(dict.fromkeys(ids))  # duplicates in one batch are one job


def _send_again(ids: list[uuid.UUID], countdown: float) -> None:
    for sid in ids:
        app.send_task(
            MODERATE_TASK,
            kwargs={"submission_id": str(sid)},
            queue=INFERENCE_QUEUE,
            countdown=countdown,
        )


@app.task(
    name=MODERATE_TASK,
    base=Batches,
    flush_every=_settings.batch_size,
    flush_interval=_settings.batch_wait_ms / 1000,
)
def moderate(requests: list[SimpleRequest]) -> dict[str, Any]:
    """Run the moderation flow for a batch; re-send those whose model call failed, later."""
    ids = _submission_ids(requests)
    if not ids:
        return {}
    log.info("moderating a batch of %d submissions", len(ids))
    report = moderate_submissions_flow(runtime.flow_context(), runtime.engine(), ids)
    _send_again(report.retry, RETRY_DELAY_S)
    # an inference server outage uses up no attempt: the work waits, with a growing delay
    delay = runtime.engine_backoff.next_delay(bool(report.unavailable))
    if report.unavailable:
        log.warning("engine unavailable: %d submissions again in %.0f s", len(ids), delay)
        _send_again(report.unavailable, delay)
    runtime.heartbeat()
    summary = {k: len(v) for k, v in vars(report).items() if isinstance(v, list)}
    log.info(
        "batch done: %s, model calls %d, flow_ms %.2f, model_ms %.2f",
        summary,
        report.model_calls,
        report.flow_ms,
        report.model_ms,
    )
    return summary
