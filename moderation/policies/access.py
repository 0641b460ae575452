"""Who may author policies: keys with the ``policies:write`` scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from moderation.accounts.api_keys import Principal
from moderation.accounts.deps import require_scope
from moderation.accounts.keys import Scope
from moderation.policies.authoring import Author
from moderation.web.errors import ApiError, error_responses


async def policy_author(
    caller: Annotated[Principal, Depends(require_scope(Scope.POLICIES_WRITE))],
) -> Author:
    """The author of an authoring call: the tenant and the API key it used."""
    return Author(caller.tenant_id, f"tenant:{caller.tenant.name} key:{caller.key_prefix}")


AuthorDep = Annotated[Author, Depends(policy_author)]


def policy_not_found(what: str) -> ApiError:
    """The 404 of the policy endpoints."""
    return ApiError(404, "not_found", what)


ERROR_RESPONSES = error_responses(401, 403, 404, 422, 429)
