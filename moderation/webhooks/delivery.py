"""Delivering one webhook message: claim it, POST it signed, record the attempt, plan a retry.

The message row is the record. It is claimed with ``FOR UPDATE SKIP LOCKED`` only while pending
and due, and it stays locked through the POST, so a redelivered or duplicated task finds it
delivered, not yet due, or held, and sends nothing.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry.trace import SpanKind
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from moderation.net import guarded_http
from moderation.observability import metrics
from moderation.observability.logs import log_context
from moderation.observability.tracing import span
from moderation.storage.db import session_scope
from moderation.webhooks import endpoint_repository as webhook_endpoints
from moderation.webhooks import message_repository as webhook_messages
from moderation.webhooks.message_repository import Claimed
from moderation.webhooks.models import WebhookAttempt
from moderation.webhooks.payloads import render_body, webhook_id
from moderation.webhooks.secrets import SecretBox

RETRY_FACTOR = 4
RESPONSE_KEEP_BYTES = 1024
USER_AGENT = "moderation-webhooks/1"


@dataclass(frozen=True)
class DeliveryContext:
    """What delivery needs from its process."""

    db_url: str
    box: SecretBox
    timeout_s: float
    retry_base_s: float
    max_attempts: int
    allow_private: bool


@dataclass(frozen=True)
class DeliveryReport:
    """What one run did: delivered, retry, failed, endpoint_disabled, cancelled or skipped."""

    outcome: str
    retry_in_s: float | None = None


@dataclass(frozen=True)
class _Result:
    status_code: int | None
    error: str | None
    retry: bool  # worth another attempt
    duration_ms: float

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def retry_delay_s(attempt: int, base_s: float) -> float:
    """Delay after failed attempt ``attempt`` (1-based): base, 4x base, 16x base, …"""
    return float(base_s * RETRY_FACTOR ** (attempt - 1))


def _post(ctx: DeliveryContext, claimed: Claimed, body: str) -> _Result:
    message, endpoint = claimed.message, claimed.endpoint
    sent_at = datetime.now(UTC)
    signer = Webhook(ctx.box.open(endpoint.secret_sealed))
    msg_id = webhook_id(message.id)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signer.sign(msg_id, sent_at, body),
    }
    started = time.perf_counter()
    try:
        answer = guarded_http.request(
            "POST",
            endpoint.url,
            content=body.encode(),
            headers=headers,
            max_bytes=RESPONSE_KEEP_BYTES,
            timeout_s=ctx.timeout_s,
            max_redirects=0,
            allow_private=ctx.allow_private,
            truncate=True,
        )
    except (guarded_http.FetchTimeout, guarded_http.FetchFailed) as exc:
        return _Result(None, exc.message, True, _ms_since(started))
    except guarded_http.TooManyRedirects:
        refused = "the endpoint redirected; redirects are not followed"
        return _Result(None, refused, False, _ms_since(started))
    except guarded_http.GuardedHttpError as exc:
        return _Result(None, exc.message, False, _ms_since(started))
    code = answer.status_code
    error = None if 200 <= code < 300 else f"HTTP {code}: {_snippet(answer.content)}"
    return _Result(code, error, code == 429 or code >= 500, _ms_since(started))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _snippet(content: bytes) -> str:
    return content[:200].decode("utf-8", errors="replace")


def _record(
    session: Session, ctx: DeliveryContext, claimed: Claimed, body: str, result: _Result
) -> DeliveryReport:
    message, endpoint = claimed.message, claimed.endpoint
    attempt = message.attempts + 1
    retry_in = retry_delay_s(attempt, ctx.retry_base_s)
    next_at = None
    if result.succeeded:
        status, report = webhook_messages.DELIVERED, DeliveryReport("delivered")
    elif result.gone:
        webhook_endpoints.disable(session, endpoint.id, "the endpoint answered 410 Gone")
        status, report = webhook_messages.FAILED, DeliveryReport("endpoint_disabled")
    elif result.retry and attempt < ctx.max_attempts:
        next_at = webhook_messages.in_seconds(retry_in)
        status, report = webhook_messages.PENDING, DeliveryReport("retry", retry_in)
    else:
        status, report = webhook_messages.FAILED, DeliveryReport("failed")
    webhook_messages.add_attempt(
        session,
        WebhookAttempt(
            message_id=message.id,
            endpoint_id=endpoint.id,
            attempt=attempt,
            status_code=result.status_code,
            succeeded=result.succeeded,
            error=result.error,
            duration_ms=result.duration_ms,
            next_attempt_at=next_at,
        ),
    )
    webhook_messages.close(
        session, message, status=status, attempts=attempt, body=body, next_attempt_at=next_at
    )
    return report


def deliver_message_flow(ctx: DeliveryContext, message_id: uuid.UUID) -> DeliveryReport:
    """Send one message if it is pending and due; safe to run any number of times. Its log
    lines and span belong to the upload the message is about; each attempt is counted."""
    with session_scope(ctx.db_url) as session:
        claimed = webhook_messages.claim_due(session, message_id)
        if claimed is None:
            return DeliveryReport("skipped")  # delivered, given up, not yet due, or held
        trace = claimed.trace or {}
        with (
            log_context(
                request_id=trace.get("request_id"), submission_id=claimed.message.submission_id
            ),
            span("webhook.deliver", parent=trace, kind=SpanKind.CLIENT) as current,
        ):
            report = _deliver(session, ctx, claimed)
            current.set_attribute("moderation.webhook.outcome", report.outcome)
        metrics.WEBHOOK_DELIVERIES.labels(report.outcome).inc()
        return report


def _deliver(session: Session, ctx: DeliveryContext, claimed: Claimed) -> DeliveryReport:
    if not claimed.endpoint.enabled:
        webhook_messages.close(
            session,
            claimed.message,
            status=webhook_messages.CANCELLED,
            attempts=claimed.message.attempts,
        )
        return DeliveryReport("cancelled")
    body = claimed.message.body or render_body(session, claimed.message, claimed.endpoint)
    return _record(session, ctx, claimed, body, _post(ctx, claimed, body))
