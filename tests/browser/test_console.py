"""The console in a real browser (issue #6 point 8): sign in and out, search the audit trail,
and a reviewer claiming and overturning an item end to end, down to the API's representation.
Every test fails on any browser console error (see conftest)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import TIMEOUT_MS, Screenshots
from tests.browser.support import QUEUE_URL, log_in, log_out, tenant_key
from tests.conftest import Env
from tests.console.support import make_account, make_tenant
from tests.review.support import decided
from tests.support import images
from tests.support.db import rows
from tests.support.processes import ApiServer

BLURRED = re.compile(r"(^|\s)blurred(\s|$)")


def item_url(sid: uuid.UUID) -> re.Pattern[str]:
    """The item page of a submission (a query string allowed)."""
    return re.compile(rf"/review/items/{sid}(\?.*)?$")


def claimed_by(db: str, sid: uuid.UUID) -> str | None:
    """Who holds the claim on ``sid`` (None when nobody)."""
    found = rows(db, "SELECT reviewer FROM review_claims WHERE submission_id = :s", s=sid)
    return str(found[0]["reviewer"]) if found else None


def wait_for(check: Callable[[], bool], what: str, timeout: float = TIMEOUT_MS / 1000) -> None:
    """Poll ``check`` until it holds (or fail after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_sign_in_lands_on_the_queue_and_sign_out_ends_the_session(
    page: Page, db: str, screenshot: Screenshots
) -> None:
    account = make_account(db, "reviewer", make_tenant(db))
    page.goto("/review/audit")  # signed out: sent to the login page, coming back afterwards
    expect(page).to_have_url(re.compile(r"/review/login\?next=/review/audit$"))
    expect(page.locator("input[name=email]")).to_be_focused()
    screenshot("login-form")
    log_in(page, account, start=None)
    expect(page).to_have_url(re.compile(r"/review/audit$"))
    page.locator("header nav a", has_text="Queue").click()
    expect(page).to_have_url(QUEUE_URL)
    expect(page.locator("h1")).to_have_text("Review queue")
    expect(page.locator("header nav a[aria-current=page]")).to_have_text("Queue")
    screenshot("queue")
    log_out(page)
    screenshot("signed-out")
    page.goto("/review/")  # the session is gone
    expect(page).to_have_url(re.compile(r"/review/login\?next=/review/$"))
    expect(page.locator("form.who")).to_have_count(0)


def test_sign_in_from_the_login_page_lands_on_the_queue(
    page: Page, db: str, screenshot: Screenshots
) -> None:
    account = make_account(db, "reviewer", make_tenant(db))
    log_in(page, account)
    expect(page).to_have_url(QUEUE_URL)
    expect(page.locator("h1")).to_have_text("Review queue")
    screenshot("queue")


def test_audit_search_by_submission_shows_its_rows(
    page: Page, db: str, server: ApiServer, screenshot: Screenshots
) -> None:
    tenant = make_tenant(db)
    key = tenant_key(db, tenant)
    with server.client(key) as client:
        made = [
            client.post(
                "/v1/moderations",
                files={"image": ("a.png", images.png(40, 30, seed=seed), "image/png")},
                data={"external_id": f"browser-{seed}"},
            )
            for seed in (901, 902)
        ]
    assert [r.status_code for r in made] == [202, 202], [r.text for r in made]
    wanted, other = (r.json()["id"] for r in made)
    log_in(page, make_account(db, "reviewer", tenant))
    page.locator("header nav a", has_text="Audit").click()
    expect(page.locator("h1")).to_have_text("Audit trail")
    listed = page.locator("table.audit tbody tr")
    expect(listed.filter(has_text=other)).to_have_count(1)  # unfiltered: both submissions
    page.locator("form.filters input[name=submission]").fill(wanted)
    page.locator("form.filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/review/audit\?submission={wanted}"))
    received = listed.filter(has_text="submission.received")
    expect(received).to_have_count(1)
    expect(received).to_contain_text(wanted)
    expect(received.locator("td").nth(3)).to_have_text("api")  # the actor column
    expect(listed.filter(has_text=other)).to_have_count(0)
    screenshot("audit-by-submission")


def test_reviewer_claims_and_overturns_an_item_then_sees_audit_and_api(
    page: Page, db: str, env: Env, server: ApiServer, screenshot: Screenshots
) -> None:
    """Needs the queue and item pages (their DOM contract is in the README)."""
    batch = decided(db, env.data_dir / "blobs", ["review"])
    (sid,) = batch.ids
    key = tenant_key(db, batch.tenant_id)
    account = make_account(db, "reviewer", batch.tenant_id)
    log_in(page, account)
    expect(page).to_have_url(QUEUE_URL)

    row = page.locator(f'tr.queue-row[data-submission-id="{sid}"]')
    expect(row).to_have_count(1)
    screenshot("queue")
    row.locator("a.open-item").click()
    expect(page).to_have_url(item_url(sid))

    image = page.locator("img#item-image")
    expect(image).to_have_class(BLURRED)
    expect(page.locator("#decided-by")).to_have_text("model")
    screenshot("item-blurred")
    page.locator("#reveal").click()
    expect(image).not_to_have_class(BLURRED)
    screenshot("item-revealed")

    page.locator("form#claim-form button#claim").click()
    wait_for(lambda: claimed_by(db, sid) is not None, "the claim to be stored")
    page.wait_for_load_state()
    expect(page).to_have_url(item_url(sid))
    expect(page.locator("form#decide-form button#block")).to_be_enabled()
    expect(page.locator("form#decide-form button#allow")).to_be_enabled()
    screenshot("claimed")

    # the keyboard shortcut "n", pressed outside any field, puts the cursor in the note
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("n")
    expect(page.locator("form#decide-form textarea#note[name=note]")).to_be_focused()
    screenshot("note-shortcut")

    form = page.locator("form#decide-form")
    form.locator("select#decide-category[name=category]").select_option("O1")
    expect(page.locator("#rules .rules:not([hidden])")).to_contain_text("Should not")
    form.locator("textarea#note[name=note]").fill("hate symbol in the background")
    screenshot("block-filled")
    form.locator("button#block").click()
    expect(page.locator("#done")).to_be_visible()  # on to the next item (none: the queue)
    page.goto(f"/review/items/{sid}")
    expect(page.locator("#decided-by")).to_have_text("reviewer")
    expect(page).to_have_url(item_url(sid))
    screenshot("overturned")

    page.goto(f"/review/audit?submission={sid}")
    overturned = page.locator("table.audit tbody tr", has_text="review.overturned")
    expect(overturned).to_have_count(1)
    expect(overturned).to_contain_text(str(sid))
    expect(overturned).to_contain_text(re.compile(re.escape(account.email), re.I))
    screenshot("audit")

    with server.client(key) as client:
        response = client.get(f"/v1/moderations/{sid}")
    assert response.status_code == 200, response.text
    decision = response.json()["decision"]
    assert (decision["decided_by"], decision["action"], decision["category"]) == (
        "reviewer",
        "block",
        "O1",
    )
