"""``/v1/webhook-endpoints``: where a tenant's events are sent, and what each send did."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from moderation.accounts.api_keys import Principal
from moderation.accounts.deps import require_scope
from moderation.accounts.keys import Scope
from moderation.web.deps import DbUrlDep, SettingsDep
from moderation.web.errors import ApiError, error_responses
from moderation.webhooks.endpoints import (
    InvalidEndpointUrl,
    add_endpoint,
    attempts_of,
    check_endpoint_url,
    endpoints_of,
    remove_endpoint,
)
from moderation.webhooks.schemas import (
    DeliveryAttemptList,
    WebhookEndpointCreated,
    WebhookEndpointIn,
    WebhookEndpointList,
    attempt_out,
    endpoint_out,
)
from moderation.webhooks.secrets import SecretBox


def get_secret_box(settings: SettingsDep) -> SecretBox:
    """Seals secrets stored at rest with the server key."""
    return SecretBox(settings.secret_key.get_secret_value())


SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]


router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])
WebhookAdminDep = Annotated[Principal, Depends(require_scope(Scope.WEBHOOKS_WRITE))]


def _endpoint_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _not_found(raw) from None


def _not_found(raw: str) -> ApiError:
    return ApiError(404, "not_found", f"no webhook endpoint with id '{raw}'")


@router.post(
    "",
    status_code=201,
    response_model=WebhookEndpointCreated,
    summary="Register a webhook endpoint (its signing secret is shown only here)",
    responses=error_responses(401, 403, 422, 429),
)
def create_endpoint(
    body: WebhookEndpointIn,
    caller: WebhookAdminDep,
    settings: SettingsDep,
    db_url: DbUrlDep,
    box: SecretBoxDep,
) -> WebhookEndpointCreated:
    """Check the URL against the SSRF guard, store the endpoint, return it with its secret."""
    try:
        check_endpoint_url(body.url, allow_private=settings.allow_private_urls)
    except InvalidEndpointUrl as exc:
        raise ApiError(422, "invalid_webhook_url", str(exc)) from exc
    registered = add_endpoint(db_url, box, caller.tenant_id, body.url, body.events)
    out = endpoint_out(registered.endpoint)
    return WebhookEndpointCreated(**out.model_dump(), secret=registered.secret)


@router.get(
    "",
    response_model=WebhookEndpointList,
    summary="List the webhook endpoints",
    responses=error_responses(401, 403, 429),
)
def list_endpoints(caller: WebhookAdminDep, db_url: DbUrlDep) -> WebhookEndpointList:
    """The tenant's endpoints, oldest first (secrets are never shown again)."""
    found = endpoints_of(db_url, caller.tenant_id)
    return WebhookEndpointList(data=[endpoint_out(e) for e in found])


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    summary="Remove a webhook endpoint",
    responses=error_responses(401, 403, 404, 429),
)
def delete_endpoint(endpoint_id: str, caller: WebhookAdminDep, db_url: DbUrlDep) -> Response:
    """Remove the endpoint; its pending deliveries are dropped."""
    if not remove_endpoint(db_url, _endpoint_id(endpoint_id), caller.tenant_id):
        raise _not_found(endpoint_id)
    return Response(status_code=204)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryAttemptList,
    summary="The latest delivery attempts to an endpoint",
    responses=error_responses(401, 403, 404, 429),
)
def list_deliveries(
    endpoint_id: str, caller: WebhookAdminDep, db_url: DbUrlDep
) -> DeliveryAttemptList:
    """Every attempt (newest first, at most 100): status code, error, retry time."""
    attempts = attempts_of(db_url, _endpoint_id(endpoint_id), caller.tenant_id)
    if attempts is None:
        raise _not_found(endpoint_id)
    return DeliveryAttemptList(data=[attempt_out(a) for a in attempts])
