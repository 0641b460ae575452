"""Browser-side helpers: signing in and out through the real forms, tenant keys."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from moderation.accounts.api_keys import issue_key
from moderation.accounts.keys import ALL_SCOPES
from moderation.storage.db import session_scope
from tests.console.support import PASSWORD, Account

QUEUE_URL = re.compile(r"/review/(\?.*)?$")
LOGIN_URL = re.compile(r"/review/login(\?.*)?$")


def tenant_key(db: str, tenant_id: uuid.UUID) -> str:
    """A new API key with every scope for an existing tenant; its plaintext."""
    with session_scope(db) as session:
        return issue_key(session, tenant_id, ALL_SCOPES, name="browser test").plaintext


def log_in(page: Page, account: Account, start: str | None = "/review/login") -> None:
    """Fill and submit the sign-in form as ``account``: at ``start``, or on the page the
    browser is on when ``start`` is None."""
    if start is not None:
        page.goto(start)
    form = page.locator("form.login")
    form.locator("input[name=email]").fill(account.email)
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page.locator("form.who")).to_contain_text(account.email)


def log_out(page: Page) -> None:
    """Press "Sign out" in the header; ends on the login page."""
    page.locator("form.who button[type=submit]").click()
    expect(page).to_have_url(LOGIN_URL)
