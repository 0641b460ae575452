"""Webhook endpoints: a tenant's URLs, the events they take, their sealed secrets."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from moderation.webhooks.models import WebhookEndpoint


def add(
    session: Session, tenant_id: uuid.UUID, url: str, events: Sequence[str], secret_sealed: str
) -> WebhookEndpoint:
    """Store a new, enabled endpoint."""
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id, url=url, events=list(events), secret_sealed=secret_sealed, enabled=True
    )
    session.add(endpoint)
    session.flush()
    session.refresh(endpoint)
    return endpoint


def list_for_tenant(session: Session, tenant_id: uuid.UUID) -> list[WebhookEndpoint]:
    """A tenant's endpoints, oldest first."""
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == tenant_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list(session.scalars(stmt))


def get_for_tenant(
    session: Session, endpoint_id: uuid.UUID, tenant_id: uuid.UUID
) -> WebhookEndpoint | None:
    """A tenant's endpoint; None for unknown or foreign ids."""
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == tenant_id
    )
    return session.scalars(stmt).one_or_none()


def delete_for_tenant(session: Session, endpoint_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
    """Remove a tenant's endpoint with its messages and attempts; False if it was not theirs."""
    stmt = delete(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == tenant_id
    )
    return bool(session.execute(stmt.returning(WebhookEndpoint.id)).first())


def disable(session: Session, endpoint_id: uuid.UUID, reason: str) -> None:
    """Stop sending to an endpoint (its pending messages are cancelled when next claimed)."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason)
    )
