"""Reading policies as the API and the console show them: the active rubric of each policy,
a policy's versions, one version, and what an author has in progress on a policy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.policies import backtest_repository as backtest_repo
from moderation.policies import draft_repository as policy_drafts
from moderation.policies import repository as policy_repo
from moderation.policies.models import BacktestRun, Policy, PolicyDraft, PolicyVersion
from moderation.storage.db import read_scope


@dataclass(frozen=True)
class PolicyVersions:
    """A policy, its active version's row and every version, oldest first."""

    policy: Policy
    active: PolicyVersion
    versions: list[PolicyVersion]


@dataclass(frozen=True)
class AuthorsWork:
    """What the authors of one owner (a tenant, or None: global) have in progress on a policy."""

    drafts: list[PolicyDraft]
    runs: list[BacktestRun]


def _versions(session: Session, policy: Policy) -> PolicyVersions:
    versions = policy_repo.releases(session, policy)
    active = next(v for v in versions if v.version == policy.active_version)
    return PolicyVersions(policy, active, versions)


def usable_policies(db_url: str, tenant_id: uuid.UUID | None) -> list[PolicyVersions]:
    """The tenant's own policies and the global ones (only those for None), each with its
    active version and all its versions."""
    with read_scope(db_url) as session:
        rows = policy_repo.list_usable(session, tenant_id)
        return [_versions(session, policy) for policy, _ in rows]


def policy_versions(
    session: Session, tenant_id: uuid.UUID | None, slug: str, scope: str | None = None
) -> PolicyVersions | None:
    """The policy ``slug`` a tenant uses (its own, else the global one), or exactly the
    ``global`` or ``tenant`` one when ``scope`` says; None: no such policy."""
    if scope is None:
        policy = policy_repo.in_effect(session, tenant_id, slug)
    else:
        policy = policy_repo.owned(session, None if scope == "global" else tenant_id, slug)
    return None if policy is None else _versions(session, policy)


def read_policy(
    db_url: str, tenant_id: uuid.UUID | None, slug: str, scope: str | None = None
) -> PolicyVersions | None:
    """:func:`policy_versions` in its own read transaction."""
    with read_scope(db_url) as session:
        return policy_versions(session, tenant_id, slug, scope)


def version_of(
    session: Session, tenant_id: uuid.UUID | None, slug: str, version: str
) -> PolicyVersion | None:
    """A version of ``slug`` the tenant may read: released under its own policy or the
    global one (None: no such version, one of another policy, or another tenant's)."""
    return policy_repo.visible_version(session, tenant_id, slug, version)


def read_version(
    db_url: str, tenant_id: uuid.UUID | None, slug: str, version: str
) -> tuple[PolicyVersion, str] | None:
    """A version of ``slug`` the tenant may read and the active version id of the policy the
    tenant uses (None: not found)."""
    with read_scope(db_url) as session:
        row = version_of(session, tenant_id, slug, version)
        policy = policy_repo.in_effect(session, tenant_id, slug)
    return None if row is None or policy is None else (row, policy.active_version)


def authors_work(session: Session, slug: str, tenant_id: uuid.UUID | None) -> AuthorsWork:
    """Unpublished drafts and recent backtests of ``slug`` of one owner (None: global)."""
    return AuthorsWork(
        drafts=policy_drafts.unpublished(session, slug, tenant_id),
        runs=backtest_repo.recent_runs(session, slug, tenant_id),
    )
