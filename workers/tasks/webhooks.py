"""Task ``webhooks.deliver``: POST one signed webhook message; retries wait in the database.

A failed attempt stores ``next_attempt_at``; a short wait is also sent as a countdown message,
a long one (or a lost message) is picked up by ``maintenance.sweep``. Either way the claim on the
row decides: a message is sent only while pending and due, so extra messages send nothing.
"""

from __future__ import annotations

import logging
import uuid

from moderation.config import get_settings
from moderation.observability.logs import log_context
from moderation.outbox.queues import DELIVER_TASK, WEBHOOKS_QUEUE
from moderation.webhooks.delivery import deliver_message_flow
from workers import runtime
from workers.app import app

log = logging.getLogger(__name__)
# a countdown message fires this much after the due time, so the claim finds it due
COUNTDOWN_MARGIN_S = 0.5


@app.task(name=DELIVER_TASK)
def deliver(message_id: str) -> str:
    """Deliver one webhook message (a no-op unless it is pending and due)."""
    try:
        mid = uuid.UUID(str(message_id))
    except ValueError:
        log.error("webhooks.deliver got a malformed message id %r; dropped", message_id)
        return "malformed"
    with log_context(task_id=deliver.request.id):
        report = deliver_message_flow(runtime.delivery_context(), mid)
    log.info("webhook message %s: %s", mid, report.outcome)
    # Redis re-delivers countdowns longer than its visibility timeout: leave those to the sweep
    if (
        report.retry_in_s is not None
        and report.retry_in_s < get_settings().visibility_timeout_s / 2
    ):
        app.send_task(
            DELIVER_TASK,
            kwargs={"message_id": str(mid)},
            queue=WEBHOOKS_QUEUE,
            countdown=report.retry_in_s + COUNTDOWN_MARGIN_S,
        )
    return report.outcome
