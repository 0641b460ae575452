"""Policies and their immutable versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.policies.models import Policy, PolicyVersion


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


def set_active(session: Session, slug: str, version: str) -> bool:
    """Make ``version`` the active one of ``slug``; True when that changed anything."""
    current = session.get(Policy, slug, with_for_update=True)
    if current is None:
        session.add(Policy(slug=slug, active_version=version))
        session.flush()
        return True
    if current.active_version == version:
        return False
    current.active_version = version
    current.updated_at = datetime.now(UTC)
    session.flush()
    return True


def get_version(session: Session, version: str) -> PolicyVersion | None:
    """One policy version by id."""
    return session.get(PolicyVersion, version)


def get_policy(session: Session, slug: str) -> Policy | None:
    """A policy (its active version) by slug."""
    return session.get(Policy, slug)


def list_active(session: Session) -> list[tuple[Policy, PolicyVersion]]:
    """Every policy with its active version, by slug."""
    stmt = (
        select(Policy, PolicyVersion)
        .join(PolicyVersion, PolicyVersion.version == Policy.active_version)
        .order_by(Policy.slug)
    )
    return [(p, v) for p, v in session.execute(stmt)]


def versions_of(session: Session, slug: str) -> list[PolicyVersion]:
    """All versions of a policy, oldest first."""
    stmt = (
        select(PolicyVersion)
        .where(PolicyVersion.slug == slug)
        .order_by(PolicyVersion.created_at, PolicyVersion.version)
    )
    return list(session.scalars(stmt))
