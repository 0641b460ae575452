"""Tenants and their API keys (stored as hashes only)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.storage.models import ApiKey, Tenant


def get_by_name(session: Session, name: str) -> Tenant | None:
    """The tenant with this name, if any."""
    return session.scalar(select(Tenant).where(Tenant.name == name))


def create(session: Session, name: str) -> Tenant:
    """Insert a tenant."""
    tenant = Tenant(id=uuid.uuid4(), name=name)
    session.add(tenant)
    session.flush()
    return tenant


def add_key(session: Session, tenant_id: uuid.UUID, prefix: str, key_hash: str) -> ApiKey:
    """Store a new API key's hash."""
    key = ApiKey(id=uuid.uuid4(), tenant_id=tenant_id, prefix=prefix, key_hash=key_hash)
    session.add(key)
    session.flush()
    return key


def tenant_for_key_hash(session: Session, key_hash: str) -> Tenant | None:
    """The tenant owning an unrevoked key with this hash."""
    stmt = (
        select(Tenant)
        .join(ApiKey, ApiKey.tenant_id == Tenant.id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )
    return session.scalar(stmt)
