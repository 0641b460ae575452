"""``/v1/policies``: read the policies a tenant can use and their versions; the authoring scope.

A tenant uses its own policy of a slug when it has one, else the global one (the operator's).
Reading needs any valid API key and shows only the caller's own policies and the global ones;
authoring calls need the ``policies:write`` scope and change the caller's own (access.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from moderation.accounts.deps import TenantDep
from moderation.policies import backtest_routes as policy_backtests
from moderation.policies import draft_routes as policy_drafts
from moderation.policies.access import ERROR_RESPONSES, policy_not_found
from moderation.policies.reading import read_policy, read_version, usable_policies
from moderation.policies.schemas import (
    PolicyList,
    PolicyOut,
    Scope,
    VersionOut,
    policy_out,
    version_out,
)
from moderation.web.deps import DbUrlDep

router = APIRouter(prefix="/v1/policies", tags=["policies"], responses=ERROR_RESPONSES)


@router.get("", response_model=PolicyList, summary="The policies this tenant can use")
def list_policies(tenant: TenantDep, db_url: DbUrlDep) -> PolicyList:
    """The tenant's own policies and the global ones, with their active rubrics; a global
    policy the tenant's own of the same slug replaces says ``in_effect: false``."""
    found = usable_policies(db_url, tenant.id)
    own = {p.policy.slug for p in found if p.policy.tenant_id is not None}
    return PolicyList(
        policies=[
            policy_out(p, p.policy.tenant_id is not None or p.policy.slug not in own, False)
            for p in found
        ]
    )


@router.get(
    "/{slug}", response_model=PolicyOut, summary="A policy, its active rubric, its versions"
)
def get_policy(
    slug: str,
    tenant: TenantDep,
    db_url: DbUrlDep,
    scope: Annotated[
        Scope | None,
        Query(description="`tenant` or `global`; default: the one this tenant's uploads use"),
    ] = None,
) -> PolicyOut:
    """The active version's full content and every version of the policy."""
    found = read_policy(db_url, tenant.id, slug, scope)
    if found is None:
        raise policy_not_found(f"no policy '{slug}'" + (f" of scope {scope}" if scope else ""))
    used = found if scope is None else read_policy(db_url, tenant.id, slug)
    in_effect = used is not None and used.policy.id == found.policy.id
    return policy_out(found, in_effect, True)


@router.get(
    "/{slug}/versions/{version}", response_model=VersionOut, summary="One immutable version"
)
def get_version(slug: str, version: str, tenant: TenantDep, db_url: DbUrlDep) -> VersionOut:
    """The full content of a version of the tenant's own policy or the global one (every
    decision's ``policy.version`` resolves here); ``active`` is about the one in effect."""
    found = read_version(db_url, tenant.id, slug, version)
    if found is None:
        raise policy_not_found(f"no version '{version}' of policy '{slug}'")
    return version_out(*found)


router.include_router(policy_drafts.router)
router.include_router(policy_backtests.router)
