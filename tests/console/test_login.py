"""Password login, session cookie, lockout, logout, CSRF and the console's security headers."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

from moderation.accounts.users import REFUSED, token_hash
from moderation.app import create_app
from moderation.config import Settings
from tests.console.support import (
    PASSWORD,
    Account,
    csrf_of,
    make_account,
    signed_in,
    try_login,
)
from tests.support.db import count, rows

Clients = Callable[[], TestClient]


def test_login_sets_an_httponly_samesite_cookie_of_a_hashed_server_side_session(
    db: str, new_client: Clients
) -> None:
    account = make_account(db)
    client = new_client()
    # emails match whatever their case
    response = try_login(client, account.email.upper())
    assert response.status_code == 303 and response.headers["location"] == "/review/"
    cookie = response.headers["set-cookie"]
    assert "mod_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/review" in cookie and "Secure" not in cookie
    token = client.cookies["mod_session"]
    assert count(db, "user_sessions WHERE id = :h", h=token_hash(token)) == 1
    assert count(db, "user_sessions WHERE id = :t", t=token) == 0  # never stored as is
    page = client.get("/review/")
    assert page.status_code == 200 and account.email in page.text


def test_production_cookies_are_secure(db: str) -> None:
    account = make_account(db)
    settings = Settings(environment="production", secret_key="s" * 40, relay_in_api=False)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        assert "Secure" in try_login(client, account.email).headers["set-cookie"]


def test_wrong_password_and_unknown_email_get_the_same_answer(db: str, new_client: Clients) -> None:
    account = make_account(db)
    wrong = try_login(new_client(), account.email, "not the password")
    unknown = try_login(new_client(), "nobody@example.test")
    assert wrong.status_code == unknown.status_code == 401
    assert "wrong email or password" in wrong.text and "wrong email or password" in unknown.text
    assert "mod_session" not in wrong.headers.get("set-cookie", "")


def test_five_failures_lock_the_account_even_against_the_right_password(
    db: str, new_client: Clients
) -> None:
    """The lock applies, but the page says the same as for any refusal (no account
    enumeration); the lock is in the audit trail."""
    account = make_account(db)
    client = new_client()
    answers = [try_login(client, account.email, f"wrong {i}") for i in range(5)]
    refused = try_login(client, account.email)
    unknown = try_login(new_client(), f"nobody-{account.email}")
    assert [a.status_code for a in (*answers, refused, unknown)] == [401] * 7
    assert {_message(a.text) for a in (*answers, refused, unknown)} == {REFUSED}
    assert "mod_session" not in client.cookies
    events = rows(
        db,
        "SELECT event, data FROM audit_events WHERE actor = :a ORDER BY id",
        a=f"user:{account.email}",
    )
    assert [e["event"] for e in events] == ["user.login_failed"] * 5 + ["user.login_refused_locked"]
    assert [bool(e["data"]) for e in events] == [False] * 4 + [True, True]
    assert events[4]["data"]["locked_until"] == events[5]["data"]["locked_until"]


def _message(page: str) -> str:
    found = re.search(r'class="error"[^>]*>([^<]+)<', page)
    assert found, page
    return html.unescape(found.group(1)).strip()


def _post_login(client: TestClient, account: Account, token: str) -> httpx.Response:
    data = {"email": account.email, "password": PASSWORD, "csrf_token": token}
    return client.post("/review/login", data=data, follow_redirects=False)


def test_a_login_token_the_server_did_not_sign_is_refused(db: str, new_client: Clients) -> None:
    """A client that picks its own cookie and token pair (plain double-submit) gets 403."""
    account = make_account(db)
    client = new_client()
    client.cookies.set("mod_login_csrf", "chosen-by-the-client", path="/review")
    for token in ("chosen-by-the-client", "chosen-by-the-client.0000"):
        assert _post_login(client, account, token).status_code == 403


def test_a_good_login_resets_the_failure_count(db: str, new_client: Clients) -> None:
    account = make_account(db)
    client = new_client()
    for i in range(4):
        try_login(client, account.email, f"wrong {i}")
    assert try_login(client, account.email).status_code == 303
    assert rows(db, "SELECT failed_logins FROM users WHERE email = :e", e=account.email) == [
        {"failed_logins": 0}
    ]


def test_login_form_needs_its_csrf_cookie(db: str, new_client: Clients) -> None:
    account = make_account(db)
    client = new_client()
    token = csrf_of(client.get("/review/login").text)
    client.cookies.clear()
    assert _post_login(client, account, token).status_code == 403


def test_posts_without_the_session_csrf_token_are_refused(db: str, new_client: Clients) -> None:
    client = new_client()
    token = signed_in(client, make_account(db))
    assert client.post("/review/logout", follow_redirects=False).status_code == 403
    wrong = client.post("/review/logout", data={"csrf_token": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403 and "Not allowed" in wrong.text
    header = client.post("/review/logout", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert header.status_code == 303  # htmx sends the token in a header


def test_logout_deletes_the_session(db: str, new_client: Clients) -> None:
    client = new_client()
    token = signed_in(client, make_account(db))
    session_token = client.cookies["mod_session"]
    out = client.post("/review/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/review/login"
    assert count(db, "user_sessions WHERE id = :h", h=token_hash(session_token)) == 0
    client.cookies.set("mod_session", session_token, path="/review")  # a replayed cookie
    again = client.get("/review/audit", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/review/login?next=/review/audit"


def test_signed_out_htmx_requests_are_told_where_to_log_in(new_client: Clients) -> None:
    answer = new_client().get("/review/", headers={"HX-Request": "true"})
    assert answer.status_code == 401 and answer.headers["HX-Redirect"].startswith("/review/login")


def test_login_only_redirects_within_the_console(db: str, new_client: Clients) -> None:
    account = make_account(db)
    client = new_client()
    token = csrf_of(client.get("/review/login").text)
    data = {"email": account.email, "password": PASSWORD, "csrf_token": token}
    outside = client.post(
        "/review/login", data={**data, "next": "https://evil.test/"}, follow_redirects=False
    )
    assert outside.headers["location"] == "/review/"


def test_console_pages_carry_security_headers_and_only_local_assets(
    db: str, new_client: Clients
) -> None:
    client = new_client()
    signed_in(client, make_account(db))
    page = client.get("/review/")
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text and "http" not in page.text.replace("http-equiv", "")
    htmx = client.get("/review/static/htmx.min.js")
    assert htmx.status_code == 200 and "Zero-Clause BSD" in htmx.text[:200]
