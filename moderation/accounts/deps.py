"""API-key authentication for the JSON API: the caller, its scopes, its tenant, its rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from moderation.accounts.api_key_repository import TenantRef
from moderation.accounts.api_keys import Principal, authenticate
from moderation.accounts.keys import Scope
from moderation.accounts.known_keys import KnownKeys
from moderation.accounts.rate_limit import KeyRateLimiter
from moderation.observability.logs import bind
from moderation.storage.db import read_scope
from moderation.web.deps import DbUrlDep
from moderation.web.errors import ApiError

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
    """``principal``, unless its key is over its rate limit (429); the request's log lines
    name its tenant from here on."""
    bind(tenant_id=principal.tenant_id)
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


def with_scope(principal: Principal, scope: Scope) -> Principal:
    """``principal``, if its key holds ``scope`` (403 otherwise)."""
    if scope not in principal.scopes:
        raise ApiError(403, "forbidden", f"this API key lacks the '{scope}' scope")
    return principal


def require_scope(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller (:func:`current_principal`), whose key must hold ``scope`` (403
    otherwise)."""

    async def scoped(principal: PrincipalDep) -> Principal:
        return with_scope(principal, scope)

    scoped.__name__ = f"require_{scope.replace(':', '_')}"
    return scoped


async def current_tenant(principal: PrincipalDep) -> TenantRef:
    """The tenant of any valid API key, whatever its scopes."""
    return principal.tenant


TenantDep = Annotated[TenantRef, Depends(current_tenant)]
