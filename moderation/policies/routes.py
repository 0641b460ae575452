"""``/v1/policies``: read policies and their immutable versions; the authoring scope.

Policies are global (not per tenant). Reading needs any valid API key; authoring calls need
the ``policies:write`` scope (see policy_access.py).
"""

from __future__ import annotations

from fastapi import APIRouter

from moderation.accounts.deps import TenantDep
from moderation.policies import backtest_routes as policy_backtests
from moderation.policies import draft_routes as policy_drafts
from moderation.policies.access import ERROR_RESPONSES, policy_not_found
from moderation.policies.reading import all_policies, read_policy, read_version
from moderation.policies.schemas import (
    PolicyList,
    PolicyOut,
    VersionOut,
    VersionSummary,
    version_out,
)
from moderation.web.deps import DbUrlDep

router = APIRouter(prefix="/v1/policies", tags=["policies"], responses=ERROR_RESPONSES)


@router.get("", response_model=PolicyList, summary="Every policy with its active rubric")
def list_policies(_: TenantDep, db_url: DbUrlDep) -> PolicyList:
    """All policies and the full content of their active versions."""
    return PolicyList(
        policies=[
            PolicyOut(
                slug=p.policy.slug,
                active_version=p.policy.active_version,
                updated_at=p.policy.updated_at,
                content=p.active.content,
            )
            for p in all_policies(db_url)
        ]
    )


@router.get(
    "/{slug}", response_model=PolicyOut, summary="A policy, its active rubric, its versions"
)
def get_policy(slug: str, _: TenantDep, db_url: DbUrlDep) -> PolicyOut:
    """The active version's full content and every version of the policy."""
    found = read_policy(db_url, slug)
    if found is None:
        raise policy_not_found(f"no policy '{slug}'")
    active = found.active
    return PolicyOut(
        slug=slug,
        active_version=active.version,
        updated_at=found.policy.updated_at,
        content=active.content,
        versions=[
            VersionSummary(
                version=v.version, created_at=v.created_at, active=v.version == active.version
            )
            for v in found.versions
        ],
    )


@router.get(
    "/{slug}/versions/{version}", response_model=VersionOut, summary="One immutable version"
)
def get_version(slug: str, version: str, _: TenantDep, db_url: DbUrlDep) -> VersionOut:
    """The full content of a version (every decision's ``policy.version`` resolves here)."""
    found = read_version(db_url, slug, version)
    if found is None:
        raise policy_not_found(f"no version '{version}' of policy '{slug}'")
    return version_out(*found)


router.include_router(policy_drafts.router)
router.include_router(policy_backtests.router)
