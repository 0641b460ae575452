"""Task ``inference.moderate``: decide submissions, batched dynamically (ids only in messages).

celery-batches buffers the messages a worker prefetched and hands them over as one list when
``MODERATION_BATCH_SIZE`` arrived or every ``MODERATION_BATCH_WAIT_MS``; with late acks the
messages are acknowledged only after the whole batch is recorded, so a worker that dies
mid-batch has every message of the batch redelivered.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, NamedTuple

from celery_batches import Batches, SimpleRequest

from moderation.config import get_settings
from moderation.observability.logs import log_context
from moderation.observability.tracing import TRACE_KEYS, span, spans_for
from moderation.outbox.queues import INFERENCE_QUEUE, MODERATE_TASK
from moderation.submissions.moderation_flow import FlowReport, moderate_submissions_flow
from workers import runtime
from workers.app import app

log = logging.getLogger(__name__)
RETRY_DELAY_S = 5
CARRIED = ("request_id", *TRACE_KEYS)  # the message headers a batch reads
_settings = get_settings()


class _Message(NamedTuple):
    """One message of a batch: its submission, task id and headers (the upload's request id
    and the trace context the relay sent it with)."""

    submission_id: uuid.UUID
    task_id: str
    headers: dict[str, Any]


def _messages(requests: list[SimpleRequest]) -> list[_Message]:
    """The well-formed messages of a batch; malformed ones are logged and dropped."""
    messages = []
    for request in requests:
        raw = (request.kwargs or {}).get("submission_id", (request.args or [None])[0])
        try:
            sid = uuid.UUID(str(raw))
        except ValueError:
            log.error("inference.moderate got a malformed submission id %r; dropped", raw)
            continue
        headers = {k: v for k, v in (request.request_dict or {}).items() if k in CARRIED}
        messages.append(_Message(sid, str(request.id), headers))
    return messages


def _log_outcomes(messages: list[_Message], report: FlowReport) -> None:
    """One line per message, in its upload's log context, saying what became of it."""
    outcome = {
        sid: name for name, ids in vars(report).items() if isinstance(ids, list) for sid in ids
    }
    for m in messages:
        with log_context(
            request_id=m.headers.get("request_id"), submission_id=m.submission_id, task_id=m.task_id
        ):
            log.info("submission %s: %s", m.submission_id, outcome.get(m.submission_id, "skipped"))


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
    messages = _messages(requests)
    ids = list(dict.fromkeys(m.submission_id for m in messages))  # duplicates: one job
    if not ids:
        return {}
    log.info("moderating a batch of %d submissions", len(ids))
    with (
        spans_for("inference.moderate", [m.headers for m in messages]) as spans,
        span("inference.batch", links=[m.headers for m in messages], size=len(ids)),
    ):
        report = moderate_submissions_flow(runtime.flow_context(), runtime.engine(), ids)
        for one, m in zip(spans, messages, strict=True):
            one.set_attribute("moderation.submission_id", str(m.submission_id))
    _log_outcomes(messages, report)
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
