"""Agreement and policy pages: SVG charts, policy list, version diff, backtests."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route

from moderation.policies import backtests
from moderation.policies.authoring import Author, create_draft, publish_draft
from moderation.policies.models import PolicyDraft
from moderation.storage.db import session_scope
from moderation.submissions.models import Submission
from tests.console.pages import Reviewer, element_text
from tests.console.support import make_account
from tests.review.support import Batch
from tests.support.db import rows

Clients = Callable[[], TestClient]
DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
AUTHOR = Author(None, "test")


def _form_action(page: str, button_class: str) -> str:
    """The action of the form whose submit button has ``button_class``."""
    found = re.search(
        r'<form method="post" action="([^"]+)">\s*<input[^>]*>\s*'
        rf'<button[^>]*class="{button_class}"',
        page,
    )
    assert found, f"no form with a .{button_class} button"
    return html.unescape(found.group(1))


def _link(page: str, link_class: str) -> str:
    """The href of the first link of ``link_class``."""
    found = re.search(rf'<a class="{link_class}" href="([^"]+)"', page)
    assert found, f"no a.{link_class}"
    return html.unescape(found.group(1))


def _confirm(author: Reviewer, url: str) -> str:
    """Open a confirmation page, then submit its form as the browser does; the next page."""
    page = author.client.get(url)
    assert page.status_code == 200, page.text
    action = re.search(r'<form id="confirm" method="post" action="([^"]+)">', page.text)
    assert action, "no confirmation form"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    done = author.client.post(html.unescape(action.group(1)), data=fields, follow_redirects=True)
    assert done.status_code == 200, done.text
    return done.text


def _rubric(slug: str, **changes: object) -> str:
    data = yaml.safe_load(DEFAULT.read_text())
    data.update(slug=slug, **changes)
    return yaml.safe_dump(data, sort_keys=False)


def test_agreement_page(db: str, new_client: Clients, make_batch: Callable[..., Batch]) -> None:
    batch = make_batch(["review"])
    ann = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    ann.post(batch.ids[0], "claim")
    ann.post(batch.ids[0], "decide", action="allow", category="", note="harmless")
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
    page = author.client.get(f"/review/policies/{slug}").text
    assert f'data-draft-id="{draft_id}"' in page
    # the form the page shows posts to the console's route (it once posted to the API's)
    start = author.client.post(
        _form_action(page, "start-backtest"),
        data={"csrf_token": author.csrf},
        follow_redirects=False,
    )
    assert start.status_code == 422 and "no labelled images" in start.text
    assert start.headers["content-type"].startswith("text/html")

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


def test_a_tenants_author_publishes_and_rolls_back_its_own_policy_after_confirming(
    db: str, new_client: Clients, make_batch: Callable[..., Batch]
) -> None:
    slug = f"console-{uuid.uuid4().hex[:8]}"
    tenant = make_batch([]).tenant_id
    with session_scope(db) as session:
        global_v = publish_draft(
            session, AUTHOR, create_draft(session, AUTHOR, slug, _rubric(slug))
        ).version
        first = create_draft(session, Author(tenant, "t"), slug, _rubric(slug, title="Ours"))
        second = create_draft(session, Author(tenant, "t"), slug, _rubric(slug, title="Ours 2"))
        versions = (first.version, second.version)
    author = Reviewer(new_client(), make_account(db, "policy_author", tenant))
    page = author.client.get(f"/review/policies/{slug}").text
    assert element_text(page, "policy-scope") == "global"
    assert 'class="rollback"' not in page  # the global policy is not the tenant's to change

    confirm = author.client.get(_link(page, "publish")).text
    assert "+title: Ours" in html.unescape(element_text(confirm, "diff"))
    assert rows(
        db,
        "SELECT count(*) AS n FROM policies WHERE slug = :s AND tenant_id = :t",
        s=slug,
        t=tenant,
    ) == [{"n": 0}], "nothing changes before the confirmation"
    after = _confirm(author, _link(page, "publish"))
    assert element_text(after, "policy-scope") == "your tenant's own"
    assert f"{versions[0]} <code>" in after or versions[0] in after
    after = _confirm(author, _link(after, "publish"))
    # the global policy is untouched; the tenant's own has both versions, the second active
    assert _active(db, slug, None) == global_v and _active(db, slug, tenant) == versions[1]
    listing = author.client.get("/review/policies").text
    assert "not in effect: your tenant has its own" in listing
    shadowed = author.client.get(f"/review/policies/{slug}?scope=global").text
    assert 'id="shadowed"' in shadowed

    back = _confirm(author, _link(after, "rollback"))
    assert _active(db, slug, tenant) == versions[0] and "(active)" in back
    events = rows(
        db,
        "SELECT event, data->>'scope' AS scope FROM audit_events WHERE subject_id = :s "
        "AND tenant_id = :t AND event IN ('policy.published', 'policy.rolled_back') ORDER BY id",
        s=slug,
        t=tenant,
    )
    assert [(e["event"], e["scope"]) for e in events] == [
        ("policy.published", "tenant"),
        ("policy.published", "tenant"),
        ("policy.rolled_back", "tenant"),
    ]
    refused = author.client.get(f"/review/policies/{slug}/rollback?version={global_v}")
    assert refused.status_code == 404


def test_only_an_admin_without_a_tenant_publishes_a_global_policy(
    db: str, new_client: Clients
) -> None:
    slug = f"console-{uuid.uuid4().hex[:8]}"
    with session_scope(db) as session:
        publish_draft(session, AUTHOR, create_draft(session, AUTHOR, slug, _rubric(slug)))
        draft = create_draft(session, AUTHOR, slug, _rubric(slug, title="Global 2"))
        version = draft.version
    url = f"/review/policies/{slug}/drafts/{draft.id}/publish"
    author = Reviewer(new_client(), make_account(db, "policy_author"))
    assert 'class="publish"' not in author.client.get(f"/review/policies/{slug}").text
    forbidden = author.client.get(url)
    assert forbidden.status_code == 403 and "admin without a tenant" in forbidden.text
    posted = author.client.post(url, data={"csrf_token": author.csrf})
    assert posted.status_code == 403 and _active(db, slug, None) != version

    admin = Reviewer(new_client(), make_account(db, "admin"))
    page = admin.client.get(f"/review/policies/{slug}").text
    assert element_text(page, "policy-scope") == "global"
    _confirm(admin, _link(page, "publish"))
    assert _active(db, slug, None) == version


def _route_names(routes: Iterable[BaseRoute]) -> set[str]:
    """The names of routes, through included routers and mounts."""
    names: set[str] = set()
    for route in routes:
        inner = getattr(route, "original_router", None) or (
            route if isinstance(route, Mount) else None
        )
        if inner is not None:
            names |= _route_names(inner.routes)
        elif isinstance(route, APIRoute | Route):
            names.add(route.name)
    return names


def test_console_routes_never_share_a_name_with_the_apis(console_app: FastAPI) -> None:
    """``url_for`` in a console template resolves over the whole app: a console route named
    like an API route would send the browser to the API (as "Start backtest" once did)."""
    (mount,) = [r for r in console_app.routes if isinstance(r, Mount) and r.path == "/review"]
    console = _route_names(mount.routes)
    api = _route_names(r for r in console_app.routes if r is not mount)
    assert {"start_backtest", "create_draft"} <= api and {"policy", "backtest"} <= console
    assert not api & console


def _active(db: str, slug: str, tenant: uuid.UUID | None) -> str:
    (row,) = rows(
        db,
        "SELECT active_version FROM policies WHERE slug = :s AND tenant_id IS NOT DISTINCT FROM :t",
        s=slug,
        t=tenant,
    )
    return str(row["active_version"])


def test_version_and_draft_pages_show_the_rubric_its_diff_and_prompt(
    db: str, new_client: Clients, make_batch: Callable[..., Batch]
) -> None:
    slug = f"console-{uuid.uuid4().hex[:8]}"
    tenant = make_batch([]).tenant_id
    with session_scope(db) as session:
        first = publish_draft(session, AUTHOR, create_draft(session, AUTHOR, slug, _rubric(slug)))
        changed = _rubric(slug, title="Second title")
        second = publish_draft(session, AUTHOR, create_draft(session, AUTHOR, slug, changed))
        draft = create_draft(session, Author(tenant, "t"), slug, _rubric(slug, title="Ours"))
        draft_id = draft.id
    author = Reviewer(new_client(), make_account(db, "policy_author", tenant))
    page = author.client.get(f"/review/policies/{slug}/versions/{first.version}")
    assert page.status_code == 200
    assert element_text(page.text, "version-state") == "not in use"
    assert 'id="policy-text"' in page.text
    assert "O1 — Hate, humiliation, harassment" in page.text  # rendered, not raw YAML
    diff = html.unescape(element_text(page.text, "diff"))
    assert "-title: Second title" in diff  # from the version in use to this one
    assert 'class="rollback"' not in page.text  # the global policy is not the tenant's
    other = Reviewer(new_client(), make_account(db, "policy_author", make_batch([]).tenant_id))
    assert other.client.get(f"/review/policies/{slug}/drafts/{draft_id}").status_code == 404

    drafted = author.client.get(f"/review/policies/{slug}/drafts/{draft_id}")
    assert drafted.status_code == 200
    assert "+title: Ours" in html.unescape(element_text(drafted.text, "diff"))
    assert second.version in drafted.text  # the diff is against the version in use
    assert "<image>" in html.unescape(element_text(drafted.text, "prompt-text"))
    assert 'class="publish"' in drafted.text and 'class="start-backtest"' in drafted.text
    events = rows(
        db,
        "SELECT event FROM audit_events WHERE subject_id = :s AND tenant_id = :t ORDER BY id",
        s=slug,
        t=tenant,
    )
    assert [e["event"] for e in events][-2:] == ["policy.draft_diffed", "policy.prompt_previewed"]


def test_backtest_page_refreshes_while_running_and_links_each_flip_to_its_item(
    db: str, new_client: Clients, make_batch: Callable[..., Batch]
) -> None:
    from moderation.policies import backtest_repository

    slug = f"console-{uuid.uuid4().hex[:8]}"
    batch = make_batch(["allow", "allow"])
    with session_scope(db) as session:
        publish_draft(session, AUTHOR, create_draft(session, AUTHOR, slug, _rubric(slug)))
        draft = create_draft(session, Author(batch.tenant_id, "t"), slug, _rubric(slug, title="D"))
        labelled = []
        for sid in batch.ids:
            submission = session.get(Submission, sid)
            assert submission is not None
            labelled.append(
                backtests.LabelledImage(submission.image_sha256, str(sid), "unsafe", "O1", sid)
            )
        run, _ = backtests.start_backtest(session, AUTHOR, draft, labelled, source="reviews")
        run_id = run.id
    author = Reviewer(new_client(), make_account(db, "policy_author", batch.tenant_id))
    url = f"/review/policies/{slug}/backtests/{run_id}"
    running = author.client.get(url).text
    assert 'hx-trigger="every 2s"' in running and f'hx-get="{url}"' in running

    allow = {"action": "allow", "rating": "safe", "category": None, "unsafe": 0.1}
    block = {"action": "block", "rating": "unsafe", "category": "O1", "unsafe": 0.9}
    with session_scope(db) as session:
        for item in backtest_repository.items(session, run_id):
            flipped = item.position == 0
            backtest_repository.record_result(
                session, item.id, draft=block if flipped else allow, baseline=allow
            )
    done = author.client.get(url).text
    assert element_text(done, "backtest-state") == "done" and "hx-trigger" not in done
    (flip,) = re.findall(r'<li class="flip">(.*?)</li>', done, re.S)
    assert f'href="/review/items/{batch.ids[0]}"' in flip
    assert "allow → block" in flip and "reviewer's label: <span" in flip and "unsafe O1" in flip


def test_the_queue_offers_only_the_policies_a_reviewers_tenant_can_use(
    db: str, new_client: Clients, make_batch: Callable[..., Batch]
) -> None:
    slug = f"own-{uuid.uuid4().hex[:8]}"
    owner, other = make_batch([]).tenant_id, make_batch([]).tenant_id
    with session_scope(db) as session:
        author = Author(owner, "t")
        publish_draft(session, author, create_draft(session, author, slug, _rubric(slug)))
    option = f'<option value="{slug}"'
    mine = Reviewer(new_client(), make_account(db, "reviewer", owner)).client.get("/review/")
    theirs = Reviewer(new_client(), make_account(db, "reviewer", other)).client.get("/review/")
    assert option in mine.text and 'value="default"' in mine.text
    assert option not in theirs.text and 'value="default"' in theirs.text
