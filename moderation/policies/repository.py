"""Policies of an owner (a tenant, or None: global), their releases and immutable versions.

A tenant's submissions use its own policy of a slug when it has one, else the global one
(:func:`in_effect`); a version is visible to a tenant when it was released under one of those.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.policies.models import Policy, PolicyRelease, PolicyVersion


def owned_by(tenant_id: uuid.UUID | None) -> ColumnElement[bool]:
    """The condition of policies of exactly this owner (None: the global ones)."""
    return Policy.tenant_id.is_(None) if tenant_id is None else Policy.tenant_id == tenant_id


def usable_by(tenant_id: uuid.UUID | None) -> ColumnElement[bool]:
    """The condition of policies a tenant may use: its own and the global ones."""
    return owned_by(None) if tenant_id is None else or_(owned_by(tenant_id), owned_by(None))


def add_version(
    session: Session, version: str, slug: str, content: dict[str, Any], sha256: str
) -> bool:
    """Insert a version unless it exists; True when it was new."""
    stmt = (
        insert(PolicyVersion)
        .values(version=version, slug=slug, content=content, content_sha256=sha256)
        .on_conflict_do_nothing(index_elements=["version"])
        .returning(PolicyVersion.version)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def owned(
    session: Session, tenant_id: uuid.UUID | None, slug: str, *, lock: bool = False
) -> Policy | None:
    """The policy ``slug`` of exactly this owner (None: the global one)."""
    stmt = select(Policy).where(Policy.slug == slug, owned_by(tenant_id))
    return session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()


def in_effect(session: Session, tenant_id: uuid.UUID | None, slug: str) -> Policy | None:
    """The policy a tenant's submissions of ``slug`` use: its own, else the global one."""
    stmt = (
        select(Policy)
        .where(Policy.slug == slug, usable_by(tenant_id))
        .order_by(Policy.tenant_id.is_(None))  # its own first
        .limit(1)
    )
    return session.scalars(stmt).one_or_none()


def _ensure(session: Session, tenant_id: uuid.UUID | None, slug: str, version: str) -> Policy:
    """The owner's policy ``slug``, created with ``version`` active when missing; locked."""
    where = "tenant_id IS NULL" if tenant_id is None else "tenant_id IS NOT NULL"
    keys = ["slug"] if tenant_id is None else ["tenant_id", "slug"]
    session.execute(
        insert(Policy)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, slug=slug, active_version=version)
        .on_conflict_do_nothing(index_elements=keys, index_where=text(where))
    )
    policy = owned(session, tenant_id, slug, lock=True)
    assert policy is not None, "inserted or already there"
    return policy


def set_active(session: Session, tenant_id: uuid.UUID | None, slug: str, version: str) -> bool:
    """Make ``version`` the active one of the owner's ``slug`` (created when missing) and one
    of its releases; True when the active version changed (or the policy is new)."""
    before = owned(session, tenant_id, slug)
    policy = _ensure(session, tenant_id, slug, version)
    session.execute(
        insert(PolicyRelease)
        .values(policy_id=policy.id, version=version)
        .on_conflict_do_nothing(index_elements=["policy_id", "version"])
    )
    if before is None:
        return True
    if policy.active_version == version:
        return False
    policy.active_version = version
    policy.updated_at = datetime.now(UTC)
    session.flush()
    return True


def get_version(session: Session, version: str) -> PolicyVersion | None:
    """One policy version by id (whoever released it: callers check visibility)."""
    return session.get(PolicyVersion, version)


def list_active(session: Session) -> list[tuple[Policy, PolicyVersion]]:
    """Every policy of every owner with its active version."""
    return _with_active(session, select(Policy))


def list_usable(
    session: Session, tenant_id: uuid.UUID | None
) -> list[tuple[Policy, PolicyVersion]]:
    """The tenant's own policies and the global ones with their active versions, by slug
    (its own before the global one of the same slug)."""
    return _with_active(session, select(Policy).where(usable_by(tenant_id)))


def _with_active(session: Session, stmt: Any) -> list[tuple[Policy, PolicyVersion]]:
    stmt = (
        stmt.add_columns(PolicyVersion)
        .join(PolicyVersion, PolicyVersion.version == Policy.active_version)
        .order_by(Policy.slug, Policy.tenant_id.is_(None))
    )
    return [(p, v) for p, v in session.execute(stmt)]


def releases(session: Session, policy: Policy) -> list[PolicyVersion]:
    """The versions released under a policy, oldest first."""
    stmt = (
        select(PolicyVersion)
        .join(PolicyRelease, PolicyRelease.version == PolicyVersion.version)
        .where(PolicyRelease.policy_id == policy.id)
        .order_by(PolicyRelease.released_at, PolicyVersion.version)
    )
    return list(session.scalars(stmt))


def released_under(session: Session, policy: Policy, version: str) -> PolicyVersion | None:
    """``version`` if it was released under ``policy`` (None otherwise)."""
    stmt = (
        select(PolicyVersion)
        .join(PolicyRelease, PolicyRelease.version == PolicyVersion.version)
        .where(PolicyRelease.policy_id == policy.id, PolicyVersion.version == version)
    )
    return session.scalars(stmt).one_or_none()


def visible_version(
    session: Session, tenant_id: uuid.UUID | None, slug: str, version: str
) -> PolicyVersion | None:
    """A version of ``slug`` released under the tenant's own policy or the global one: what a
    tenant may read (another tenant's versions are not, even by exact version string)."""
    stmt = (
        select(PolicyVersion)
        .join(PolicyRelease, PolicyRelease.version == PolicyVersion.version)
        .join(Policy, and_(Policy.id == PolicyRelease.policy_id, Policy.slug == slug))
        .where(PolicyVersion.version == version, usable_by(tenant_id))
        .limit(1)
    )
    return session.scalars(stmt).one_or_none()
