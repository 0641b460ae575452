"""Policy drafts: validated rubrics not yet published."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.policies.models import PolicyDraft


def add(
    session: Session,
    *,
    slug: str,
    version: str,
    content: dict[str, Any],
    source_yaml: str,
    base_version: str | None,
    tenant_id: uuid.UUID | None,
    created_by: str,
) -> PolicyDraft:
    """Store a new draft."""
    draft = PolicyDraft(
        id=uuid.uuid4(),
        slug=slug,
        version=version,
        content=content,
        source_yaml=source_yaml,
        base_version=base_version,
        created_by_tenant_id=tenant_id,
        created_by=created_by,
    )
    session.add(draft)
    session.flush()
    return draft


def get(session: Session, draft_id: uuid.UUID) -> PolicyDraft | None:
    """One draft by id."""
    return session.get(PolicyDraft, draft_id)


def mark_published(session: Session, draft: PolicyDraft) -> None:
    """Record when the draft went live (the first time only)."""
    draft.published_at = draft.published_at or datetime.now(UTC)
    session.flush()


def unpublished(session: Session, slug: str, tenant_id: uuid.UUID | None) -> list[PolicyDraft]:
    """Drafts of ``slug`` not published yet, newest first; of one owner (a
    tenant, or None: global)."""
    stmt = select(PolicyDraft).where(
        PolicyDraft.created_by_tenant_id.is_not_distinct_from(tenant_id),
        PolicyDraft.slug == slug,
        PolicyDraft.published_at.is_(None),
    )
    return list(session.scalars(stmt.order_by(PolicyDraft.created_at.desc())))
