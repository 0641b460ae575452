"""A policy author's day in a real browser (issues #18, #23): the tenant's policies beside the
global ones, a draft's page (diff, prompt), Start backtest → a report that updates itself as
the items finish → flips linked to their items, then Publish with its confirmation, which makes
the tenant's own policy and leaves the global one alone."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import yaml
from playwright.sync_api import Page, expect
from sqlalchemy import select

from moderation.policies import backtest_repository
from moderation.policies.authoring import Author, create_draft, publish_draft
from moderation.review.repository import add_review
from moderation.storage.db import session_scope
from moderation.submissions.models import Decision
from tests.browser.conftest import Screenshots
from tests.browser.support import log_in
from tests.conftest import Env
from tests.console.support import make_account
from tests.review.support import decided
from tests.support.db import rows

DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
OPERATOR = Author(None, "test:operator")


def _rubric(slug: str, **changes: object) -> str:
    data = yaml.safe_load(DEFAULT.read_text())
    data.update(slug=slug, **changes)
    return yaml.safe_dump(data, sort_keys=False)


def _finish_items(db: str, run_id: uuid.UUID) -> None:
    """What the backtest worker would store (this package's API sends no task): the first
    item flips from allow to block, the others stay allowed."""
    allow = {"action": "allow", "rating": "safe", "category": None, "unsafe": 0.1}
    block = {"action": "block", "rating": "unsafe", "category": "O1", "unsafe": 0.9}
    with session_scope(db) as session:
        for item in backtest_repository.items(session, run_id):
            draft = block if item.position == 0 else allow
            backtest_repository.record_result(session, item.id, draft=draft, baseline=allow)


def test_a_tenants_author_backtests_and_publishes_its_own_policy(
    page: Page, db: str, env: Env, screenshot: Screenshots
) -> None:
    slug = f"shop-{uuid.uuid4().hex[:6]}"
    with session_scope(db) as session:
        publish_draft(session, OPERATOR, create_draft(session, OPERATOR, slug, _rubric(slug)))
    batch = decided(db, env.data_dir / "blobs", ["allow", "allow", "allow"], policy=slug)
    with session_scope(db) as session:
        made = select(Decision.id).where(Decision.submission_id.in_(batch.ids))
        for decision_id in session.scalars(made):
            add_review(session, decision_id=decision_id, reviewer="ann", outcome="confirm")
        author = Author(batch.tenant_id, "tenant:shop key:x")
        draft = create_draft(session, author, slug, _rubric(slug, title="Our own rubric"))
        draft_version = draft.version
    log_in(page, make_account(db, "policy_author", batch.tenant_id))

    page.goto("/review/policies")
    row = page.locator(f'tr.policy-row[data-slug="{slug}"]')
    expect(row).to_contain_text("global")
    screenshot("policies")
    row.get_by_role("link", name=slug).click()
    expect(page.locator("#policy-scope")).to_have_text("global")
    screenshot("policy-global")

    page.locator("a.draft").click()
    expect(page.locator("#diff")).to_contain_text("+title: Our own rubric")
    page.locator("#prompt-preview summary").click()
    expect(page.locator("#prompt-text")).to_contain_text("<image>")
    screenshot("draft")

    page.locator("button.start-backtest").click()
    expect(page.locator("#backtest-state")).to_have_text("running")
    expect(page.locator("#backtest-total")).to_have_text("3")
    screenshot("backtest-running")
    run_id = uuid.UUID(page.url.rsplit("/", 1)[1])
    _finish_items(db, run_id)
    # no reload: the report refreshes itself while the run is going
    expect(page.locator("#backtest-state")).to_have_text("done", timeout=10_000)
    flip = page.locator("#flips li.flip")
    expect(flip).to_have_count(1)
    expect(flip).to_contain_text("allow → block")
    expect(flip).to_contain_text("reviewer's label: safe")
    screenshot("backtest-done")
    (first,) = rows(
        db, "SELECT submission_id FROM backtest_items WHERE run_id = :r AND position = 0", r=run_id
    )
    flip.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"/review/items/{first['submission_id']}$"))

    page.goto(f"/review/policies/{slug}/drafts/{draft.id}")
    page.locator("a.publish").click()
    expect(page.locator("h1")).to_contain_text(f"Publish {draft_version}?")
    screenshot("publish-confirm")
    page.locator("#confirm-button").click()
    expect(page.locator("#policy-scope")).to_have_text("your tenant's own")
    expect(page.locator(f'#versions li[data-version="{draft_version}"]')).to_contain_text(
        "(active)"
    )
    screenshot("policy-own")
    owners = rows(
        db,
        "SELECT tenant_id, active_version FROM policies WHERE slug = :s "
        "ORDER BY tenant_id NULLS FIRST",
        s=slug,
    )
    assert [o["tenant_id"] for o in owners] == [None, batch.tenant_id]
    assert owners[1]["active_version"] == draft_version != owners[0]["active_version"]
