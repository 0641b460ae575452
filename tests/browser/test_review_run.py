"""A reviewer's day in a real browser (issue #23): Start reviewing, five decisions by keys
alone (each opening the next item, one page load each), a second reviewer who never gets an
item the first holds, undo, and the reveal kept across a claim; down to the API."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import Screenshots
from tests.browser.review_run import KeyRun, current_item
from tests.browser.support import QUEUE_URL, log_in, tenant_key
from tests.browser.test_console import BLURRED
from tests.conftest import Env
from tests.console.support import make_account
from tests.review.support import decided
from tests.support.processes import ApiServer


def _api_decisions(server: ApiServer, key: str, ids: list[uuid.UUID]) -> list[tuple[str, str]]:
    with server.client(key) as client:
        bodies = [client.get(f"/v1/moderations/{sid}").json()["decision"] for sid in ids]
    return [(b["action"], b["decided_by"]) for b in bodies]


def test_start_reviewing_five_decisions_by_keys_a_second_reviewer_and_undo(
    page: Page,
    browser: Browser,
    db: str,
    env: Env,
    server: ApiServer,
    screenshot: Screenshots,
) -> None:
    batch = decided(db, env.data_dir / "blobs", ["review"] * 7)
    key = tenant_key(db, batch.tenant_id)
    bob_context = browser.new_context(base_url=server.url)
    bob = bob_context.new_page()
    log_in(bob, make_account(db, "reviewer", batch.tenant_id))
    bobs = KeyRun(bob).start()  # bob holds the first item of the queue
    assert bobs in batch.ids

    log_in(page, make_account(db, "reviewer", batch.tenant_id))
    expect(page).to_have_url(QUEUE_URL)
    expect(page.locator("tr.queue-row img.thumb.blurred")).to_have_count(7)
    screenshot("queue")
    run = KeyRun(page)
    opened = [run.start()]
    assert opened[0] in batch.ids and opened[0] != bobs  # the first free one: never bob's
    expect(page.locator("#rules .rules:not([hidden])")).to_contain_text("Should not")
    screenshot("item")
    plan: list[tuple[tuple[str, ...], str | None]] = [
        (("b",), None),  # agree: block with the model's category
        (("1", "b"), "wrong category: hateful"),  # another category: a note is required
        (("a",), "a toy"),  # allow changes the model's action: a note
        (("2", "b"), None),  # picking the model's category is agreeing
        (("b",), None),
    ]
    loads_before = run.loads
    for keys, note in plan:
        following = run.decide(*keys, note=note)
        assert following is not None and following != bobs
        opened.append(following)
        if len(opened) == 3:
            screenshot("done-undo")
    assert run.loads - loads_before == len(plan)  # one page load a decision
    assert len(set(opened)) == len(opened) and bobs not in opened
    assert _api_decisions(server, key, run.decided) == [
        ("block", "reviewer"),
        ("block", "reviewer"),
        ("allow", "reviewer"),
        ("block", "reviewer"),
        ("block", "reviewer"),
    ]

    run.press("u")  # undo the fifth: back on it, the model's decision again
    expect(page).to_have_url(re.compile(rf"/review/items/{run.decided[-1]}$"))
    run.ready()
    expect(page.locator("#decided-by")).to_have_text("model")
    assert _api_decisions(server, key, [run.decided[-1]]) == [("review", "model")]
    screenshot("undone")

    image = page.locator("img#item-image")
    page.locator("#reveal").click()
    page.locator("#release").click()  # a reload: the reveal stays
    expect(page.locator("#claim")).to_be_visible()
    expect(image).not_to_have_class(BLURRED)
    page.locator("#claim").click()
    expect(page.locator("#decide-form")).to_be_visible()
    expect(image).not_to_have_class(BLURRED)
    assert current_item(page) == run.decided[-1]
    bob_context.close()
