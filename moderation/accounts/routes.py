"""``/v1/api-keys``: a tenant creates, lists and revokes its own keys (scope ``keys:write``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from moderation.accounts.api_keys import (
    Principal,
    ScopeNotHeld,
    create_key_for,
    keys_of,
    revoke_key_of,
)
from moderation.accounts.deps import require_scope
from moderation.accounts.keys import Scope
from moderation.web.deps import DbUrlDep
from moderation.web.errors import ApiError, error_responses, not_found, parse_id
from moderation.web.text import RequestModel

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"])
KeyAdminDep = Annotated[Principal, Depends(require_scope(Scope.KEYS_WRITE))]
_ERRORS = error_responses(401, 403, 422, 429)


class ApiKeyIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"name": "uploads", "scopes": ["moderations:write"]}}
    )
    name: str | None = Field(default=None, max_length=100)
    scopes: list[Scope] = Field(min_length=1, description="a subset of the calling key's scopes")


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "7d3e9a10-2b4c-4d5e-9f60-718293a4b5c6",
                "prefix": "mod_4fQz8Kp1",
                "name": "uploads",
                "scopes": ["moderations:write", "moderations:read"],
                "created_at": "2026-11-25T12:00:00Z",
                "revoked_at": None,
            }
        },
    )

    id: uuid.UUID
    prefix: str = Field(description="the key's first characters: enough to recognise it")
    name: str | None
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="the API key itself: shown this once, only its hash is stored")


@router.post(
    "", status_code=201, response_model=NewApiKeyOut, summary="Create a key", responses=_ERRORS
)
def create_api_key(body: ApiKeyIn, caller: KeyAdminDep, db_url: DbUrlDep) -> NewApiKeyOut:
    """A new key of the caller's tenant, with at most the caller's scopes; shown once."""
    try:
        issued = create_key_for(db_url, caller, body.scopes, body.name)
    except ScopeNotHeld as exc:
        raise ApiError(403, "forbidden", f"cannot grant scopes this key lacks: {exc}") from exc
    shown = ApiKeyOut.model_validate(issued.row).model_dump()
    return NewApiKeyOut(key=issued.plaintext, **shown)


@router.get("", response_model=list[ApiKeyOut], summary="List the tenant's keys", responses=_ERRORS)
def list_api_keys(caller: KeyAdminDep, db_url: DbUrlDep) -> list[ApiKeyOut]:
    """Every key of the caller's tenant, revoked ones included (prefixes only, never keys)."""
    return [ApiKeyOut.model_validate(row) for row in keys_of(db_url, caller.tenant_id)]


@router.delete(
    "/{key_id}",
    status_code=204,
    summary="Revoke a key",
    responses={**_ERRORS, **error_responses(404)},
)
def revoke_api_key(key_id: str, caller: KeyAdminDep, db_url: DbUrlDep) -> Response:
    """Revoke one of the tenant's keys: refused from the very next request on."""
    kid = parse_id(key_id, "API key")
    if not revoke_key_of(db_url, kid, caller.tenant_id):
        raise not_found("API key", key_id)
    return Response(status_code=204)
