"""API key rows: only hashes and public prefixes are stored."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from moderation.accounts.models import ApiKey, Tenant


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


class TenantRef(NamedTuple):
    """A tenant as a caller sees it (a plain tuple: cheaper than an ORM instance)."""

    id: uuid.UUID
    name: str


class ActiveKey(NamedTuple):
    """What authentication needs of an unrevoked key and its tenant."""

    id: uuid.UUID
    key_hash: str
    scopes: list[str]
    prefix: str
    tenant: TenantRef


_KEYS, _TENANTS = cast(Table, ApiKey.__table__).c, cast(Table, Tenant.__table__).c
# built once, plain Core: this runs on every authenticated request
_ACTIVE_WITH_PREFIX = (
    select(_KEYS.id, _KEYS.key_hash, _KEYS.scopes, _KEYS.prefix, _TENANTS.id, _TENANTS.name)
    .join_from(cast(Table, ApiKey.__table__), cast(Table, Tenant.__table__))
    .where(_KEYS.prefix == bindparam("prefix"), _KEYS.revoked_at.is_(None))
)


def active_with_prefix(session: Session, prefix: str) -> list[ActiveKey]:
    """Unrevoked keys with this public prefix (almost always one), with their tenant."""
    return [
        ActiveKey(key_id, key_hash, scopes, key_prefix, TenantRef(tenant_id, name))
        for key_id, key_hash, scopes, key_prefix, tenant_id, name in session.execute(
            _ACTIVE_WITH_PREFIX, {"prefix": prefix}
        )
    ]


def is_active(session: Session, key_id: uuid.UUID) -> bool:
    """Whether the key exists and is not revoked."""
    stmt = select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
    return session.scalar(stmt) is not None


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
