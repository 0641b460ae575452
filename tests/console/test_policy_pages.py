"""Agreement and policy pages: SVG charts, policy list, version diff, backtests."""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from moderation.policies import backtests
from moderation.policies.authoring import Author, create_draft, publish_draft
from moderation.policies.models import PolicyDraft
from moderation.storage.db import session_scope
from moderation.submissions.models import Submission
from tests.console.pages import Reviewer, element_text
from tests.console.support import make_account
from tests.review.support import Batch

Clients = Callable[[], TestClient]
DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
AUTHOR = Author(None, "test")


def _rubric(slug: str, **changes: object) -> str:
    data = yaml.safe_load(DEFAULT.read_text())
    data.update(slug=slug, **changes)
    return yaml.safe_dump(data, sort_keys=False)


def test_agreement_page(db: str, new_client: Clients, make_batch: Callable[..., Batch]) -> None:
    batch = make_batch(["review"])
    ann = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    ann.post(batch.ids[0], "claim")
    ann.post(batch.ids[0], "overturn", action="allow", category="", note="harmless")
    page = ann.client.get("/review/agreement").text
    assert element_text(page, "agreement-overall").startswith("0.0%")
    assert "<svg" in element_text(page, "confusion-matrix")
    assert "<svg" in element_text(page, "agreement-over-time")
    assert ann.client.get("/review/agreement?date_to=soon").status_code == 400


def test_policy_pages_and_diff(db: str, new_client: Clients) -> None:
    slug = f"console-{uuid.uuid4().hex[:8]}"
    with session_scope(db) as session:
        first = publish_draft(session, AUTHOR, create_draft(session, AUTHOR, slug, _rubric(slug)))
        changed = _rubric(slug, title="Changed title")
        second = publish_draft(session, AUTHOR, create_draft(session, AUTHOR, slug, changed))
    reviewer = new_client()
    Reviewer(reviewer, make_account(db, "reviewer"))
    assert reviewer.get("/review/policies").status_code == 403

    author = Reviewer(new_client(), make_account(db, "policy_author"))
    listing = author.client.get("/review/policies").text
    assert f'data-slug="{slug}"' in listing and second.version in listing
    page = author.client.get(f"/review/policies/{slug}").text
    assert first.version in page and 'id="diff-form"' in page
    diffed = author.client.get(f"/review/policies/{slug}/diff?a={first.version}&b={second.version}")
    diff = html.unescape(element_text(diffed.text, "diff"))
    assert "-title:" in diff and "+title: Changed title" in diff
    bad = author.client.get(f"/review/policies/{slug}/diff?a=default-nope&b={second.version}")
    assert bad.status_code == 404
    assert author.client.get("/review/policies/no-such-policy").status_code == 404


def test_backtest_start_and_report(
    db: str, new_client: Clients, make_batch: Callable[..., Batch]
) -> None:
    slug = f"console-{uuid.uuid4().hex[:8]}"
    tenant = make_batch([]).tenant_id
    with session_scope(db) as session:
        publish_draft(session, AUTHOR, create_draft(session, AUTHOR, slug, _rubric(slug)))
        draft = create_draft(session, Author(tenant, "t"), slug, _rubric(slug, title="Draft"))
        draft_id = draft.id
    author = Reviewer(new_client(), make_account(db, "policy_author", tenant))
    assert f'data-draft-id="{draft_id}"' in author.client.get(f"/review/policies/{slug}").text
    start = author.client.post(
        f"/review/policies/{slug}/drafts/{draft_id}/backtests",
        data={"csrf_token": author.csrf},
        follow_redirects=False,
    )
    assert start.status_code == 422 and "no labelled images" in start.text

    image = make_batch(["allow"])
    with session_scope(db) as session:
        submission = session.get(Submission, image.ids[0])
        draft = session.get(PolicyDraft, draft_id)
        assert submission is not None and draft is not None
        sha = submission.image_sha256
        labelled = [backtests.LabelledImage(sha, "one", "safe", None)]
        run, _ = backtests.start_backtest(session, AUTHOR, draft, labelled, source="reviews")
    report = author.client.get(f"/review/policies/{slug}/backtests/{run.id}").text
    assert element_text(report, "backtest-state") == "running"
    assert (element_text(report, "backtest-done"), element_text(report, "backtest-total")) == (
        "0",
        "1",
    )
    other = Reviewer(new_client(), make_account(db, "policy_author", make_batch([]).tenant_id))
    assert other.client.get(f"/review/policies/{slug}/backtests/{run.id}").status_code == 404
