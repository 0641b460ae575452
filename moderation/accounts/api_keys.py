"""Issuing, checking and revoking API keys: in the caller's transaction, or in their own
(the ``*_key``/``keys_of`` flows the API calls)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.accounts import api_key_repository as api_keys
from moderation.accounts.api_key_repository import TenantRef
from moderation.accounts.keys import generate_api_key, key_matches, public_prefix
from moderation.accounts.models import ApiKey
from moderation.storage.db import read_scope, session_scope


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, the key used and what that key may do."""

    tenant: TenantRef
    key_id: uuid.UUID
    scopes: frozenset[str]
    key_prefix: str = ""  # the key's public prefix: how people recognise it in audit trails

    @property
    def tenant_id(self) -> uuid.UUID:
        """The calling tenant's id."""
        return self.tenant.id


@dataclass(frozen=True)
class IssuedKey:
    """A stored key and its plaintext, which is shown once and never stored."""

    row: ApiKey
    plaintext: str


class ScopeNotHeld(Exception):
    """A key may only grant scopes its creator holds."""


def issue_key(
    session: Session, tenant_id: uuid.UUID, scopes: Iterable[str], name: str | None = None
) -> IssuedKey:
    """Create a key for a tenant with these scopes."""
    key = generate_api_key()
    row = api_keys.add(
        session,
        tenant_id,
        prefix=key.prefix,
        key_hash=key.key_hash,
        scopes=sorted(set(scopes)),
        name=name,
    )
    return IssuedKey(row=row, plaintext=key.plaintext)


def issue_key_for(
    session: Session, issuer: Principal, scopes: Iterable[str], name: str | None
) -> IssuedKey:
    """A key created by another key of the same tenant: never with more scopes than it holds."""
    wanted = set(scopes)
    if missing := wanted - issuer.scopes:
        raise ScopeNotHeld(", ".join(sorted(missing)))
    return issue_key(session, issuer.tenant_id, wanted, name)


def authenticate(session: Session, presented: str) -> Principal | None:
    """The principal of an unrevoked key; None for a malformed, unknown or revoked key.

    A malformed key (bad shape or checksum) is refused before any query.
    """
    prefix = public_prefix(presented)
    if prefix is None:
        return None
    for key in api_keys.active_with_prefix(session, prefix):
        if key_matches(presented, key.key_hash):
            return Principal(key.tenant, key.id, frozenset(key.scopes), key.prefix)
    return None


def create_key_for(
    db_url: str, issuer: Principal, scopes: Iterable[str], name: str | None
) -> IssuedKey:
    """:func:`issue_key_for` in its own transaction; the row comes back with its server times."""
    with session_scope(db_url) as session:
        issued = issue_key_for(session, issuer, scopes, name)
        session.refresh(issued.row)  # created_at comes from the server
    return issued


def keys_of(db_url: str, tenant_id: uuid.UUID) -> list[ApiKey]:
    """Every key of a tenant, revoked ones included."""
    with read_scope(db_url) as session:
        return list(api_keys.for_tenant(session, tenant_id))


def revoke_key_of(db_url: str, key_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
    """Revoke one of the tenant's keys; False when it has no such key."""
    with session_scope(db_url) as session:
        return api_keys.revoke(session, key_id, tenant_id)
