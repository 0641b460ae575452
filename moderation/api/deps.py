"""Request dependencies: settings, database URL, blob store, the caller and its limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from moderation.api.backlog import QueueDepth
from moderation.api.errors import ApiError
from moderation.api.rate_limit import KeyRateLimiter
from moderation.config import Settings
from moderation.domain.api_keys import Principal, authenticate
from moderation.domain.dispatch import Publish
from moderation.domain.keys import Scope
from moderation.domain.secrets import SecretBox
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import read_scope
from moderation.storage.repositories.api_keys import TenantRef


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_db_url(settings: SettingsDep) -> str:
    """The database URL of this app."""
    assert settings.database_url, "create_app checks the database URL"
    return settings.database_url


DbUrlDep = Annotated[str, Depends(get_db_url)]


async def get_blobs(settings: SettingsDep) -> FileBlobStore:
    """The blob store of this app."""
    return FileBlobStore(settings.resolved_blob_dir)


BlobsDep = Annotated[FileBlobStore, Depends(get_blobs)]


def get_secret_box(settings: SettingsDep) -> SecretBox:
    """Seals secrets stored at rest with the server key."""
    return SecretBox(settings.secret_key.get_secret_value())


SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]


def resolve_publish(app: FastAPI) -> Publish:
    """How this app sends task messages (the Celery app of ``workers`` unless injected)."""
    publish: Publish | None = app.state.publish
    if publish is None:
        from workers.app import publish as celery_publish

        publish = app.state.publish = celery_publish
    return publish


BACKLOG_RETRY_AFTER_S = 5
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def _presented_key(request: Request) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send 'Authorization: Bearer <key>'",
            _UNAUTHORIZED,
        )
    return key.strip()


def current_principal(request: Request, db_url: DbUrlDep) -> Principal:
    """The caller of ``Authorization: Bearer <key>``: 401 unless the key is valid and unrevoked,
    429 over the key's rate limit. Keys are read from Postgres on every request (no cache), so
    a revocation applies to the very next request in every API process."""
    with read_scope(db_url) as session:
        principal = authenticate(session, _presented_key(request))
    if principal is None:
        raise ApiError(401, "unauthorized", "invalid or revoked API key", _UNAUTHORIZED)
    limiter: KeyRateLimiter | None = request.app.state.rate_limiter
    if limiter is not None and (wait := limiter.retry_after(str(principal.key_id))) is not None:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {limiter.item} per API key exceeded; retry in {wait} s",
            {"Retry-After": str(wait)},
        )
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, whose key must hold ``scope`` (403 otherwise)."""

    async def scoped(principal: PrincipalDep) -> Principal:  # async: no thread hop
        if scope not in principal.scopes:
            raise ApiError(403, "forbidden", f"this API key lacks the '{scope}' scope")
        return principal

    scoped.__name__ = f"require_{scope.replace(':', '_')}"
    return scoped


async def current_tenant(principal: PrincipalDep) -> TenantRef:
    """The tenant of any valid API key, whatever its scopes."""
    return principal.tenant


TenantDep = Annotated[TenantRef, Depends(current_tenant)]


async def require_queue_room(request: Request, principal: PrincipalDep) -> None:
    """503 while the inference backlog is over ``max_queue_depth`` (checked after auth)."""
    settings: Settings = request.app.state.settings
    backlog: QueueDepth | None = request.app.state.backlog
    if settings.max_queue_depth <= 0 or backlog is None:
        return
    # async, so no thread hop per request; the once-a-second Redis read goes to a thread
    depth = backlog.current() if backlog.is_fresh() else await run_in_threadpool(backlog.current)
    if depth is not None and depth > settings.max_queue_depth:
        raise ApiError(
            503,
            "overloaded",
            f"the inference backlog ({depth}) is over {settings.max_queue_depth}; retry later",
            {"Retry-After": str(BACKLOG_RETRY_AFTER_S)},
        )
