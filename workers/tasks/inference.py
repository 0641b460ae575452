"""Task ``inference.moderate``: decide one submission (idempotent; ids only in the message)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import Task

from moderation.domain.moderation_flow import moderate_submissions_flow
from workers import runtime
from workers.app import app

log = logging.getLogger(__name__)


@app.task(name="inference.moderate", bind=True, max_retries=None)
def moderate(self: Task, submission_id: str) -> dict[str, Any]:
    """Run the moderation flow for one submission; retry later if the model call failed."""
    try:
        sid = uuid.UUID(str(submission_id))
    except ValueError:
        log.error("inference.moderate got a malformed submission id %r; dropped", submission_id)
        return {"error": "malformed submission id"}
    report = moderate_submissions_flow(runtime.flow_context(), runtime.engine(), [sid])
    if report.retry:
        raise self.retry(countdown=min(60, 2 ** (self.request.retries + 1)))
    return {"decided": len(report.decided), "failed": len(report.failed)}
