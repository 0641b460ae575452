"""Console helpers: accounts, tenants and signing in through the real login form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import httpx
from fastapi.testclient import TestClient

from moderation.accounts import tenant_repository as tenants
from moderation.accounts.users import Role, create_user
from moderation.storage.db import session_scope

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Account:
    """A console account made for a test."""

    email: str
    role: Role
    tenant_id: uuid.UUID | None


def make_tenant(db: str) -> uuid.UUID:
    """A new tenant; returns its id."""
    with session_scope(db) as session:
        return tenants.create(session, f"console-{uuid.uuid4().hex[:8]}").id


def make_account(db: str, role: Role = "reviewer", tenant_id: uuid.UUID | None = None) -> Account:
    """A new account with :data:`PASSWORD`."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@Example.test"
    with session_scope(db) as session:
        create_user(session, email, PASSWORD, role, tenant_id)
    return Account(email, role, tenant_id)


def csrf_of(html: str) -> str:
    """The CSRF token embedded in a rendered form."""
    found = _CSRF.search(html)
    assert found, "page has no CSRF field"
    return found.group(1)


def try_login(client: TestClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """Submit the login form as a browser would; returns the response."""
    token = csrf_of(client.get("/review/login").text)
    return client.post(
        "/review/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def signed_in(client: TestClient, account: Account) -> str:
    """Sign ``client`` in as ``account``; returns the session's CSRF token."""
    response = try_login(client, account.email)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/review/").text)
