"""Registering webhook endpoints: the URL passes the SSRF guard, the secret is sealed at rest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.net.guarded_http import GuardedHttpError, check_url
from moderation.webhooks import endpoint_repository as webhook_endpoints
from moderation.webhooks.events import Event
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
