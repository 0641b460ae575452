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
    """What the authors of a tenant (None: every tenant) have in progress on a policy."""

    drafts: list[PolicyDraft]
    runs: list[BacktestRun]


def _versions(session: Session, policy: Policy) -> PolicyVersions:
    versions = policy_repo.versions_of(session, policy.slug)
    active = next(v for v in versions if v.version == policy.active_version)
    return PolicyVersions(policy, active, versions)


def all_policies(db_url: str) -> list[PolicyVersions]:
    """Every policy with its active version and all its versions."""
    with read_scope(db_url) as session:
        return [_versions(session, policy) for policy, _ in policy_repo.list_active(session)]


def policy_versions(session: Session, slug: str) -> PolicyVersions | None:
    """A policy and its versions (None: no such policy)."""
    policy = policy_repo.get_policy(session, slug)
    return None if policy is None else _versions(session, policy)


def read_policy(db_url: str, slug: str) -> PolicyVersions | None:
    """:func:`policy_versions` in its own read transaction."""
    with read_scope(db_url) as session:
        return policy_versions(session, slug)


def version_of(session: Session, slug: str, version: str) -> PolicyVersion | None:
    """A version of the policy ``slug`` (None: no such version, or one of another policy)."""
    row = policy_repo.get_version(session, version)
    return row if row is not None and row.slug == slug else None


def read_version(db_url: str, slug: str, version: str) -> tuple[PolicyVersion, str] | None:
    """A version of ``slug`` and the policy's active version id (None: not found)."""
    with read_scope(db_url) as session:
        row = version_of(session, slug, version)
        policy = policy_repo.get_policy(session, slug)
    return None if row is None or policy is None else (row, policy.active_version)


def authors_work(session: Session, slug: str, tenant_id: uuid.UUID | None) -> AuthorsWork:
    """Unpublished drafts and recent backtests of ``slug`` visible to the tenant."""
    return AuthorsWork(
        drafts=policy_drafts.unpublished(session, slug, tenant_id),
        runs=backtest_repo.recent_runs(session, slug, tenant_id),
    )
