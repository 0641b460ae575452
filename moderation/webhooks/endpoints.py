"""Webhook endpoints of a tenant: registering one (the URL passes the SSRF guard, the secret is
sealed at rest), listing, removing, and the delivery attempts made to one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.net.guarded_http import GuardedHttpError, check_url
from moderation.storage.db import read_scope, session_scope
from moderation.webhooks import endpoint_repository as webhook_endpoints
from moderation.webhooks import message_repository as webhook_messages
from moderation.webhooks.events import Event
from moderation.webhooks.message_repository import AttemptRow
from moderation.webhooks.models import WebhookEndpoint
from moderation.webhooks.secrets import SecretBox, new_webhook_secret


class InvalidEndpointUrl(Exception):
    """The endpoint URL is not one the service may send to."""


@dataclass(frozen=True)
class Registered:
    """A new endpoint and its signing secret (the only time the secret is shown)."""

    endpoint: WebhookEndpoint
    secret: str


def check_endpoint_url(url: str, *, allow_private: bool) -> None:
    """Refuse URLs the delivery guard would refuse (InvalidEndpointUrl, with the reason)."""
    try:
        check_url(url, allow_private=allow_private)
    except GuardedHttpError as exc:
        raise InvalidEndpointUrl(f"webhook URL refused: {exc.message}") from exc


def register_endpoint(
    session: Session, box: SecretBox, tenant_id: uuid.UUID, url: str, events: Sequence[Event]
) -> Registered:
    """Store an endpoint (URL already checked) with a new secret, sealed with the server key."""
    secret = new_webhook_secret()
    endpoint = webhook_endpoints.add(
        session, tenant_id, url, list(dict.fromkeys(events)), box.seal(secret)
    )
    return Registered(endpoint, secret)


def add_endpoint(
    db_url: str, box: SecretBox, tenant_id: uuid.UUID, url: str, events: Sequence[Event]
) -> Registered:
    """:func:`register_endpoint` in a transaction of its own."""
    with session_scope(db_url) as session:
        return register_endpoint(session, box, tenant_id, url, events)


def endpoints_of(db_url: str, tenant_id: uuid.UUID) -> list[WebhookEndpoint]:
    """The tenant's endpoints, oldest first."""
    with read_scope(db_url) as session:
        return webhook_endpoints.list_for_tenant(session, tenant_id)


def remove_endpoint(db_url: str, endpoint_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
    """Remove one of the tenant's endpoints (its pending deliveries go with it); False: none."""
    with session_scope(db_url) as session:
        return webhook_endpoints.delete_for_tenant(session, endpoint_id, tenant_id)


def attempts_of(
    db_url: str, endpoint_id: uuid.UUID, tenant_id: uuid.UUID
) -> list[AttemptRow] | None:
    """The latest delivery attempts to one of the tenant's endpoints (None: no such endpoint)."""
    with read_scope(db_url) as session:
        if webhook_endpoints.get_for_tenant(session, endpoint_id, tenant_id) is None:
            return None
        return webhook_messages.attempts_for_endpoint(session, endpoint_id)
