"""Who may author policies: one dependency, ``require_scope``, to swap for real key scopes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from moderation.api.deps import TenantDep
from moderation.api.errors import ApiError
from moderation.api.schemas import ErrorResponse
from moderation.domain.policy_authoring import Author
from moderation.storage.models import Tenant


def require_scope(scope: str) -> Callable[[Tenant], Tenant]:
    """A dependency admitting callers whose key holds ``scope``.

    API-key scopes are not stored yet: for now every valid key passes (swap this body for the
    scope check once keys carry scopes)."""

    def authorized(tenant: TenantDep) -> Tenant:
        return tenant

    authorized.__name__ = f"require_{scope.replace(':', '_')}"
    return authorized


def policy_author(
    request: Request, tenant: Annotated[Tenant, Depends(require_scope("policies:write"))]
) -> Author:
    """The author of an authoring call: the tenant and the prefix of the key it used."""
    key = request.headers.get("authorization", "").partition(" ")[2].strip()
    return Author(tenant.id, f"tenant:{tenant.name} key:{key[:12]}")


AuthorDep = Annotated[Author, Depends(policy_author)]


def policy_not_found(what: str) -> ApiError:
    """The 404 of the policy endpoints."""
    return ApiError(404, "not_found", what)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 404, 422)
}
