"""Webhook bodies: the Standard Webhooks envelope around the ``GET /v1/moderations/{id}`` view."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.orm import Session

from moderation.submissions import repository as submissions
from moderation.submissions.schemas import moderation_out
from moderation.webhooks.models import WebhookEndpoint, WebhookMessage


def webhook_id(message_id: uuid.UUID) -> str:
    """The ``webhook-id`` header: stable for a message across all its attempts."""
    return f"msg_{message_id.hex}"


def render_body(session: Session, message: WebhookMessage, endpoint: WebhookEndpoint) -> str:
    """``{"type", "timestamp", "data"}`` with ``data`` exactly what GET returns now."""
    found = submissions.get_for_tenant(session, message.submission_id, endpoint.tenant_id)
    if found is None:  # the foreign keys keep the submission; a tenant mismatch is a bug
        raise LookupError(f"submission {message.submission_id} not found for its endpoint")
    envelope = {
        "type": message.event,
        "timestamp": message.created_at.isoformat(),
        "data": moderation_out(*found).model_dump(mode="json"),
    }
    return json.dumps(envelope, separators=(",", ":"))
