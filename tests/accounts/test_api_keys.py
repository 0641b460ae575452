"""Issuing, authenticating and revoking keys against the real database."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.orm import Session

from moderation.accounts import api_key_repository as api_keys
from moderation.accounts import tenant_repository as tenants
from moderation.accounts.api_keys import ScopeNotHeld, authenticate, issue_key, issue_key_for
from moderation.accounts.keys import ALL_SCOPES, KEY_PREFIX, generate_api_key
from moderation.storage.db import session_scope


@pytest.fixture
def tenant_id(db: str) -> uuid.UUID:
    with session_scope(db) as session:
        return tenants.create(session, f"keys-{uuid.uuid4().hex[:8]}").id


def test_an_issued_key_authenticates_with_its_scopes(db: str, tenant_id: uuid.UUID) -> None:
    with session_scope(db) as session:
        issued = issue_key(session, tenant_id, ["moderations:read"], name="reader")
    with session_scope(db) as session:
        principal = authenticate(session, issued.plaintext)
    assert principal is not None
    assert principal.tenant_id == tenant_id and principal.key_id == issued.row.id
    assert principal.scopes == {"moderations:read"}


def test_unknown_and_revoked_keys_do_not_authenticate(db: str, tenant_id: uuid.UUID) -> None:
    with session_scope(db) as session:
        issued = issue_key(session, tenant_id, ALL_SCOPES)
        assert authenticate(session, generate_api_key().plaintext) is None
    with session_scope(db) as session:
        assert api_keys.revoke(session, issued.row.id, tenant_id)
    with session_scope(db) as session:
        assert authenticate(session, issued.plaintext) is None
        assert api_keys.revoke(session, issued.row.id)  # revoking again is harmless
        assert not api_keys.revoke(session, uuid.uuid4())


def test_a_malformed_key_is_refused_without_touching_the_database() -> None:
    unbound = Session()  # any query on it would raise
    key = generate_api_key().plaintext
    typo = key[:-1] + ("0" if key[-1] != "0" else "1")
    for presented in (typo, "mod_short", KEY_PREFIX + "!" * 30):
        assert authenticate(unbound, presented) is None


def test_a_key_grants_at_most_the_scopes_of_its_creator(db: str, tenant_id: uuid.UUID) -> None:
    with session_scope(db) as session:
        writer = issue_key(session, tenant_id, ["moderations:write", "keys:write"])
        principal = authenticate(session, writer.plaintext)
        assert principal is not None
        child = issue_key_for(session, principal, ["moderations:write"], "child")
        assert child.row.scopes == ["moderations:write"]
        with pytest.raises(ScopeNotHeld, match="reviews:write"):
            issue_key_for(session, principal, ["moderations:write", "reviews:write"], None)
