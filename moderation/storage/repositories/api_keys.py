"""API key rows: only hashes and public prefixes are stored."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from moderation.storage.models import ApiKey, Tenant


def add(
    session: Session,
    tenant_id: uuid.UUID,
    *,
    prefix: str,
    key_hash: str,
    scopes: Sequence[str],
    name: str | None,
) -> ApiKey:
    """Store a new API key's hash, prefix and scopes."""
    key = ApiKey(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        prefix=prefix,
        key_hash=key_hash,
        scopes=list(scopes),
        name=name,
    )
    session.add(key)
    session.flush()
    return key


def active_with_prefix(session: Session, prefix: str) -> list[tuple[ApiKey, Tenant]]:
    """Unrevoked keys with this public prefix (almost always one), with their tenant."""
    stmt = (
        select(ApiKey, Tenant)
        .join(Tenant, Tenant.id == ApiKey.tenant_id)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    )
    return [(key, tenant) for key, tenant in session.execute(stmt)]


def for_tenant(session: Session, tenant_id: uuid.UUID) -> list[ApiKey]:
    """A tenant's keys, revoked ones included, oldest first."""
    stmt = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
    return list(session.scalars(stmt))


def revoke(session: Session, key_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> bool:
    """Revoke a key (of ``tenant_id`` when given); False when there is no such key.

    Revoking twice keeps the first revocation time.
    """
    stmt = (
        update(ApiKey)
        .where(ApiKey.id == key_id)
        .values(revoked_at=func.coalesce(ApiKey.revoked_at, func.now()))
        .returning(ApiKey.id)
    )
    if tenant_id is not None:
        stmt = stmt.where(ApiKey.tenant_id == tenant_id)
    return session.scalar(stmt) is not None
