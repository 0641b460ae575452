"""``/v1/policies``: read policies and their immutable versions; the authoring scope.

Policies are global (not per tenant). Reading needs any valid API key; authoring calls need
the ``policies:write`` scope (see policy_access.py).
"""

from __future__ import annotations

from fastapi import APIRouter

from moderation.accounts.deps import TenantDep
from moderation.policies import backtest_routes as policy_backtests
from moderation.policies import draft_routes as policy_drafts
from moderation.policies import repository as policy_repo
from moderation.policies.access import ERROR_RESPONSES, policy_not_found
from moderation.policies.schemas import (
    PolicyList,
    PolicyOut,
    VersionOut,
    VersionSummary,
    version_out,
)
from moderation.storage.db import read_scope
from moderation.web.deps import DbUrlDep

router = APIRouter(prefix="/v1/policies", tags=["policies"], responses=ERROR_RESPONSES)


@router.get("", response_model=PolicyList, summary="Every policy with its active rubric")
def list_policies(_: TenantDep, db_url: DbUrlDep) -> PolicyList:
    """All policies and the full content of their active versions."""
    with read_scope(db_url) as session:
        found = policy_repo.list_active(session)
    return PolicyList(
        policies=[
            PolicyOut(
                slug=p.slug,
                active_version=p.active_version,
                updated_at=p.updated_at,
                content=v.content,
            )
            for p, v in found
        ]
    )


@router.get(
    "/{slug}", response_model=PolicyOut, summary="A policy, its active rubric, its versions"
)
def get_policy(slug: str, _: TenantDep, db_url: DbUrlDep) -> PolicyOut:
    """The active version's full content and every version of the policy."""
    with read_scope(db_url) as session:
        policy = policy_repo.get_policy(session, slug)
        if policy is None:
            raise policy_not_found(f"no policy '{slug}'")
        versions = policy_repo.versions_of(session, slug)
    active = next(v for v in versions if v.version == policy.active_version)
    return PolicyOut(
        slug=slug,
        active_version=policy.active_version,
        updated_at=policy.updated_at,
        content=active.content,
        versions=[
            VersionSummary(
                version=v.version, created_at=v.created_at, active=v.version == active.version
            )
            for v in versions
        ],
    )


@router.get(
    "/{slug}/versions/{version}", response_model=VersionOut, summary="One immutable version"
)
def get_version(slug: str, version: str, _: TenantDep, db_url: DbUrlDep) -> VersionOut:
    """The full content of a version (every decision's ``policy.version`` resolves here)."""
    with read_scope(db_url) as session:
        row = policy_repo.get_version(session, version)
        policy = policy_repo.get_policy(session, slug)
    if row is None or row.slug != slug or policy is None:
        raise policy_not_found(f"no version '{version}' of policy '{slug}'")
    return version_out(row, policy.active_version)


router.include_router(policy_drafts.router)
router.include_router(policy_backtests.router)
