"""Request dependencies: settings, database URL, blob store, the caller and its limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from moderation.api.backlog import QueueDepth
from moderation.api.errors import ApiError
from moderation.api.intake_batcher import IntakeBatcher
from moderation.api.known_keys import KnownKeys
from moderation.api.rate_limit import KeyRateLimiter
from moderation.config import Settings
from moderation.domain.api_keys import Principal, authenticate
from moderation.domain.dispatch import Publish
from moderation.domain.keys import Scope
from moderation.domain.secrets import SecretBox
from moderation.storage.blobs import FileBlobStore, blob_store
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
    return blob_store(settings)


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
UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def _presented_key(request: Request) -> str:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send 'Authorization: Bearer <key>'",
            UNAUTHORIZED,
        )
    return key.strip()


def _authenticate(db_url: str, presented: str) -> Principal:
    with read_scope(db_url) as session:
        principal = authenticate(session, presented)
    if principal is None:
        raise ApiError(401, "unauthorized", "invalid or revoked API key", UNAUTHORIZED)
    return principal


async def _rate_limited(request: Request, principal: Principal) -> Principal:
    """``principal``, unless its key is over its rate limit (429)."""
    limiter: KeyRateLimiter | None = request.app.state.rate_limiter
    if limiter is not None and (wait := await limiter.retry_after(str(principal.key_id))):
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {limiter.item} per API key exceeded; retry in {wait} s",
            {"Retry-After": str(wait)},
        )
    return principal


async def current_principal(request: Request, db_url: DbUrlDep) -> Principal:
    """The caller of ``Authorization: Bearer <key>``: 401 unless the key is valid and unrevoked,
    429 over the key's rate limit. Keys are read from Postgres on every request (no cache), so
    a revocation applies to the very next request in every API process."""
    principal = await run_in_threadpool(_authenticate, db_url, _presented_key(request))
    return await _rate_limited(request, principal)


async def submitting_principal(request: Request, db_url: str) -> Principal:
    """:func:`current_principal` for ``POST /v1/moderations``, whose intake statement writes
    nothing for a revoked key (answered 401): so a key seen lately in this process is taken
    from memory, with no query and no thread hop, and revocation still applies to the very
    next upload."""
    presented = _presented_key(request)
    known: KnownKeys = request.app.state.known_keys
    principal = known.get(presented)
    if principal is None:
        principal = await run_in_threadpool(_authenticate, db_url, presented)
        known.put(presented, principal)
    return await _rate_limited(request, principal)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def _with_scope(principal: Principal, scope: Scope) -> Principal:
    """``principal``, if its key holds ``scope`` (403 otherwise)."""
    if scope not in principal.scopes:
        raise ApiError(403, "forbidden", f"this API key lacks the '{scope}' scope")
    return principal


def require_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller (:func:`current_principal`), whose key must hold ``scope`` (403
    otherwise)."""

    async def scoped(principal: PrincipalDep) -> Principal:
        return _with_scope(principal, scope)

    scoped.__name__ = f"require_{scope.replace(':', '_')}"
    return scoped


async def current_tenant(principal: PrincipalDep) -> TenantRef:
    """The tenant of any valid API key, whatever its scopes."""
    return principal.tenant


TenantDep = Annotated[TenantRef, Depends(current_tenant)]


async def _check_queue_room(request: Request, settings: Settings) -> None:
    """503 while the inference backlog is over ``max_queue_depth``."""
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


@dataclass(frozen=True)
class Upload:
    """What ``POST /v1/moderations`` needs of its caller and its app."""

    caller: Principal
    settings: Settings
    db_url: str
    intake: IntakeBatcher


async def upload_context(request: Request) -> Upload:
    """The uploading caller (:func:`submitting_principal`: 401, 429), whose key must hold
    ``moderations:write`` (403), while the inference backlog has room (503), with the app's
    settings and intake writer.

    One dependency where the route had a tree of seven (and the key is checked for its scope
    before the backlog, so a key that may not upload learns so even under load). Of what is
    left of dependency solving per upload, three quarters is the rate limit's Redis call."""
    settings: Settings = request.app.state.settings
    assert settings.database_url, "create_app checks the database URL"
    caller = await submitting_principal(request, settings.database_url)
    _with_scope(caller, Scope.MODERATIONS_WRITE)
    await _check_queue_room(request, settings)
    return Upload(caller, settings, settings.database_url, request.app.state.intake)


UploadDep = Annotated[Upload, Depends(upload_context)]
