"""Request and response schemas of ``/v1/webhook-endpoints``."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from moderation.web.text import RequestModel
from moderation.webhooks.events import Event
from moderation.webhooks.message_repository import AttemptRow
from moderation.webhooks.models import WebhookEndpoint
from moderation.webhooks.payloads import webhook_id


class WebhookEndpointIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "url": "https://hooks.example.com/moderation",
                "events": ["moderation.decided", "moderation.updated", "moderation.failed"],
            }
        }
    )
    url: str = Field(min_length=1, max_length=2000, description="http(s) URL that receives POSTs")
    events: list[Event] = Field(min_length=1, description="events to send to this URL")


class WebhookEndpointOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "5f0c2a1e-3b4d-4c5e-8f9a-0b1c2d3e4f5a",
                "url": "https://hooks.example.com/moderation",
                "events": ["moderation.decided"],
                "enabled": True,
                "disabled_reason": None,
                "created_at": "2026-11-25T12:00:00Z",
            }
        }
    )
    id: uuid.UUID
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(description="signing secret (Standard Webhooks 'whsec_…'), shown once")


class WebhookEndpointList(BaseModel):
    data: list[WebhookEndpointOut]


class DeliveryAttemptOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "webhook_id": "msg_2pWVRIIm8vPNsk5cBCd0Lq",
                "event": "moderation.decided",
                "moderation_id": "0b7c6f1e-8d2a-4f5e-9c1b-3a2d4e5f6a7b",
                "attempt": 2,
                "succeeded": True,
                "status_code": 200,
                "error": None,
                "duration_ms": 41.5,
                "attempted_at": "2026-11-25T12:00:12Z",
                "next_attempt_at": None,
                "message_status": "delivered",
            }
        }
    )
    webhook_id: str = Field(description="the 'webhook-id' header: the same on every retry")
    event: str
    moderation_id: uuid.UUID
    attempt: int
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: float
    attempted_at: datetime
    next_attempt_at: datetime | None
    message_status: str = Field(description="pending, delivered, failed or cancelled")


class DeliveryAttemptList(BaseModel):
    data: list[DeliveryAttemptOut]


def endpoint_out(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    """The public view of an endpoint (never its secret)."""
    return WebhookEndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        events=list(endpoint.events),
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        created_at=endpoint.created_at,
    )


def attempt_out(row: AttemptRow) -> DeliveryAttemptOut:
    """The public view of one delivery attempt."""
    a = row.attempt
    return DeliveryAttemptOut(
        webhook_id=webhook_id(a.message_id),
        event=row.event,
        moderation_id=row.submission_id,
        attempt=a.attempt,
        succeeded=a.succeeded,
        status_code=a.status_code,
        error=a.error,
        duration_ms=a.duration_ms,
        attempted_at=a.attempted_at,
        next_attempt_at=a.next_attempt_at,
        message_status=row.message_status,
    )
