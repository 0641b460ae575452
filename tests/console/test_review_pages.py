"""Queue and item pages: rows, counts and tenant scoping; the blurred image and escaped
rationale; claim → confirm / overturn through the real forms; claims held by others."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.console.pages import Reviewer, element_text, row_ids
from tests.console.support import make_account
from tests.review.support import Batch

Clients = Callable[[], TestClient]
Batches = Callable[..., Batch]
XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_queue_rows_counts_and_tenant_scope(
    db: str, new_client: Clients, make_batch: Batches
) -> None:
    mine, theirs = make_batch(["review", "review"]), make_batch(["review"])
    scoped = new_client()
    Reviewer(scoped, make_account(db, "reviewer", mine.tenant_id))
    page = scoped.get("/review/").text
    assert set(row_ids(page)) == set(mine.ids)
    assert element_text(page, "count-review") == "2"
    assert element_text(page, "count-appeal") == element_text(page, "count-sample") == "0"
    assert f'<a class="open-item" href="/review/items/{mine.ids[0]}">' in page
    assert 'name="tenant"' not in page  # scoped users get no tenant filter
    # a tenant filter in the URL is ignored for them
    assert set(row_ids(scoped.get(f"/review/?tenant={theirs.tenant_id}").text)) == set(mine.ids)

    admin = new_client()
    Reviewer(admin, make_account(db, "admin"))
    filtered = admin.get(f"/review/?tenant={theirs.tenant_id}&reason=review").text
    assert row_ids(filtered) == theirs.ids
    assert element_text(filtered, "count-review") == "1"
    assert admin.get("/review/?date_from=yesterday").status_code == 400


def test_item_page_blurs_and_escapes(db: str, new_client: Clients, make_batch: Batches) -> None:
    batch = make_batch(["review"], rationale=XSS)
    sid = batch.ids[0]
    reviewer = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    page = reviewer.item(sid)
    assert '<img id="item-image" class="blurred' in page
    assert '<button id="reveal" type="button"' in page
    assert "review.js" in page and 'id="shortcuts"' in page
    assert XSS not in page and "<script>alert" not in page and 'onerror="alert' not in page
    assert html.unescape(element_text(page, "rationale")) == XSS
    assert element_text(page, "decided-by") == "model"
    assert "review" in element_text(page, "model-verdict")
    assert "<svg" in element_text(page, "scores")
    policy = html.unescape(element_text(page, "policy"))
    assert "O2 — Violence, harm or cruelty" in policy and "Should not" in policy
    assert "slug:" not in policy  # rendered, not raw YAML
    assert "test/fixed-verdicts" in element_text(page, "provenance")
    assert 'id="claim-form"' in page and 'id="decide-form"' not in page
    assert "review · unsafe · O2 — Violence, harm or cruelty" in element_text(page, "model-verdict")

    image = reviewer.client.get(f"/review/items/{sid}/image")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"] == "no-store"
    assert image.content.startswith(b"\x89PNG")

    outsider = Reviewer(new_client(), make_account(db, "reviewer", make_batch([]).tenant_id))
    assert outsider.client.get(f"/review/items/{sid}").status_code == 404
    assert outsider.client.get(f"/review/items/{sid}/image").status_code == 404
    assert outsider.post(sid, "claim")[0] == 404


def test_claim_confirm_and_held_claims(db: str, new_client: Clients, make_batch: Batches) -> None:
    batch = make_batch(["review"])
    sid = batch.ids[0]
    ann = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    bob = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))

    assert ann.post(sid, "claim") == (303, "")
    page = ann.item(sid)
    for element in ('id="decide-form"', 'id="note"', 'id="allow"', 'id="block"', 'id="skip"'):
        assert element in page
    assert 'id="claim-form"' not in page

    seen_by_bob = bob.item(sid)
    assert 'id="claimed-by"' in seen_by_bob and 'id="decide-form"' not in seen_by_bob
    status, body = bob.post(sid, "claim")
    assert status == 409 and 'class="error"' in body
    assert re.search(r"claimed by reviewer-\w+@example.test until \d\d:\d\d:\d\d UTC", body, re.I)
    status, body = bob.post(sid, "decide", action="block", category="O2")
    assert status == 409 and 'class="error"' in body

    status, body = ann.post(sid, "decide", action="allow", note="  ")
    assert status == 422 and "a note is required to change the model" in body
    assert ann.post(sid, "decide", action="block", category="O2")[0] == 303  # agrees: no note
    page = ann.item(sid)
    assert element_text(page, "decided-by") == "reviewer"
    assert element_text(page, "verdict").startswith("block")
    assert "review.confirmed" in element_text(page, "history")
    assert 'id="claim-form"' in page  # the claim was released

    forged = ann.client.post(f"/review/items/{sid}/claim", data={"csrf_token": "nope"})
    assert forged.status_code == 403


def test_overturn_keeps_the_model_verdict(
    db: str, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["review"])
    sid = batch.ids[0]
    ann = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    assert ann.post(sid, "decide", action="block", category="O1", note="x")[0] == 409
    ann.post(sid, "claim")
    page = ann.item(sid)
    assert '<option value="O2" selected>' in page  # the shown category is the model's
    assert '<option value="">' not in page  # a block always has a category
    status, body = ann.post(sid, "decide", action="block", category="", note="no category")
    assert status == 422 and "a block needs the category" in body
    status, body = ann.post(sid, "decide", action="review", category="O2", note="later")
    assert status == 422 and "action must be one of allow, block" in body
    assert ann.post(sid, "decide", action="block", category="O1", note="clear case")[0] == 303
    page = ann.item(sid)
    assert element_text(page, "verdict").startswith("block")
    assert element_text(page, "decided-by") == "reviewer"
    assert element_text(page, "model-verdict").startswith("review")
    assert "review.overturned" in element_text(page, "history")
