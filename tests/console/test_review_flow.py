"""The reviewer's run and the probe's "Broken" list (issue #23): every human decision is a
final allow/block, visible through the API; decided items are re-reviewed only on purpose;
history lists each event once with its notes, the internal note stays internal; Start
reviewing / next / skip / undo never hand one item to two reviewers."""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from moderation.storage.db import session_scope
from moderation.submissions.appeals import file_appeal
from tests.browser.support import tenant_key
from tests.console.pages import Reviewer, element_text
from tests.console.support import make_account
from tests.review.support import Batch
from tests.support.db import rows

Clients = Callable[[], TestClient]
Batches = Callable[..., Batch]


def _api_decision(client: TestClient, key: str, sid: uuid.UUID) -> dict[str, object]:
    """``GET /v1/moderations/{id}`` (once per module: the API's async pool keeps the loop of the
    first TestClient that used it)."""
    response = client.get(f"/v1/moderations/{sid}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _start(reviewer: Reviewer, run: str = "") -> str:
    """Press Start reviewing; the path (with query) of the item it opened."""
    response = reviewer.client.post(
        "/review/next", data={"csrf_token": reviewer.csrf, "run": run}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return response.headers["location"]


def _sid(location: str) -> uuid.UUID:
    return uuid.UUID(location.split("/items/")[1].split("?")[0])


def test_confirming_a_review_item_blocks_it_and_the_api_says_so(
    db: str, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["review", "review"])
    blocked, allowed = batch.ids
    ann = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    key = tenant_key(db, batch.tenant_id)
    for sid in batch.ids:
        assert ann.post(sid, "claim")[0] == 303
    assert ann.post(blocked, "decide", action="block", category="O2")[0] == 303  # agree: no note
    assert ann.post(allowed, "decide", action="allow", category="O2", note="a toy")[0] == 303
    decisions = [_api_decision(ann.client, key, sid)["decision"] for sid in batch.ids]
    assert [(d["action"], d["category"], d["decided_by"]) for d in decisions] == [  # type: ignore[index]
        ("block", "O2", "reviewer"),
        ("allow", None, "reviewer"),  # the picker's category means nothing to an allow
    ]
    outcomes = rows(db, "SELECT outcome FROM reviews WHERE submission_id = :s", s=allowed)
    assert outcomes == [{"outcome": "overturn"}]


def test_a_decided_item_is_reviewed_again_only_on_purpose(
    db: str, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["review"])
    (sid,) = batch.ids
    ann = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    ann.post(sid, "claim")
    assert ann.post(sid, "decide", action="block", category="O2", note="knife")[0] == 303
    status, body = ann.post(sid, "claim")
    assert status == 409 and "use Re-review" in body
    page = ann.item(sid)
    assert ">Re-review</button>" in page and 'name="again" value="true"' in page
    assert "knife" in element_text(page, "earlier-review")
    assert ann.post(sid, "claim", again="true")[0] == 303
    assert ann.post(sid, "decide", action="allow", note="a toy knife", again="true")[0] == 303
    (after,) = rows(db, "SELECT action, decided_by FROM decisions WHERE submission_id = :s", s=sid)
    assert after == {"action": "allow", "decided_by": "reviewer"}
    assert len(rows(db, "SELECT id FROM reviews WHERE submission_id = :s", s=sid)) == 2


def test_history_shows_each_event_once_with_its_notes_and_the_platform_gets_its_own(
    db: str, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["block"])
    (sid,) = batch.ids
    with session_scope(db) as session:
        file_appeal(session, batch.tenant_id, sid, "it is a museum piece")
    ann = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    ann.post(sid, "claim")
    page = ann.item(sid)
    assert "sent to the platform" in page and 'id="resolution-note"' in page
    status, _ = ann.post(
        sid,
        "decide",
        action="block",
        category="O1",
        note="insider: repeat uploader",
        resolution_note="The image shows a hateful symbol.",
    )
    assert status == 303
    history = html.unescape(element_text(ann.item(sid), "history"))
    assert history.count("review.confirmed") == 1 and "review.confirm<" not in history
    assert "appeal.upheld" not in history  # no line claims the outcome at filing time
    assert "appeal.filed</span> by api" in history and "it is a museum piece" in history
    assert "internal note:</span> insider: repeat uploader" in history
    assert "sent to the platform:</span> The image shows a hateful symbol." in history
    # what the API returns as the appeal's resolution_note (the internal note never leaves)
    appeals = rows(
        db, "SELECT status, resolution_note FROM appeals WHERE submission_id = :s", s=sid
    )
    assert appeals == [{"status": "upheld", "resolution_note": "The image shows a hateful symbol."}]


def test_bad_pages_and_ids_get_html_pages_with_the_header(
    db: str, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["review"])
    account = make_account(db, "reviewer", batch.tenant_id)
    ann = Reviewer(new_client(), account)
    for query in ("page=0", "page=9", "page=-3"):
        response = ann.client.get(f"/review/?{query}")
        assert response.status_code == 200
        assert element_text(response.text, "page-of") == "Page 1 of 1"
    for path, status in (("/review/?page=two", 422), ("/review/items/not-a-uuid", 404)):
        response = ann.client.get(path)
        assert response.status_code == status and "text/html" in response.headers["content-type"]
        assert 'class="error"' in response.text and 'id="back-to-queue"' in response.text
        assert account.email.lower() in response.text.lower()  # the normal header
    forbidden = ann.client.get("/review/policies")
    assert forbidden.status_code == 403 and "needs the policy_author role" in forbidden.text
    assert account.email.lower() in forbidden.text.lower() and "Sign out" in forbidden.text


def test_queue_names_filters_and_what_an_empty_filter_hides(
    db: str, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["review", "review"])
    with session_scope(db) as session:
        file_appeal(session, batch.tenant_id, batch.ids[1], "this is satire")
    admin = Reviewer(new_client(), make_account(db, "admin"))
    page = admin.client.get(f"/review/?tenant={batch.tenant_id}").text
    assert "O2 — Violence, harm or cruelty" in page and "this is satire" in page
    assert '<td class="tenant">review-' in page and '<img class="thumb blurred"' in page
    assert (
        '<select name="policy" id="filter-policy">' in page and '<option value="O9">O9 — ' in page
    )
    backwards = admin.client.get("/review/?date_from=2026-05-02&date_to=2026-05-01")
    assert backwards.status_code == 400 and "ends before it starts" in backwards.text
    scoped = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    empty = scoped.client.get("/review/?category=O5").text
    assert "they hide 2 items" in empty and 'id="clear-filters" href="/review/"' in empty


def test_start_reviewing_next_skip_and_undo(
    db: str, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["review", "review", "review"])
    third = batch.ids[2]
    with session_scope(db) as session:
        file_appeal(session, batch.tenant_id, third, "please")
    ann = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    bob = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    assert _sid(_start(ann)) == third  # appeals first
    first = _sid(_start(bob))  # never the item ann holds
    (second,) = set(batch.ids) - {first, third}
    assert _sid(_start(ann)) == third  # ann resumes her own
    decided = ann.client.post(
        f"/review/items/{third}/decide",
        data={"csrf_token": ann.csrf, "action": "allow", "note": "satire"},
        follow_redirects=False,
    )
    # straight on to the next free item (bob holds `first`), offering the undo
    assert decided.status_code == 303
    assert decided.headers["location"] == f"/review/items/{second}?done={third}"
    again = ann.client.post(
        f"/review/items/{third}/decide",
        data={"csrf_token": ann.csrf, "action": "allow", "note": "x"},
        follow_redirects=False,
    )
    assert again.status_code == 409  # decided: not again by accident
    page = ann.client.get(f"/review/items/{second}?done={third}").text
    assert 'id="undo-form"' in page and f'action="/review/items/{third}/undo"' in page
    undo = ann.client.post(
        f"/review/items/{third}/undo",
        data={"csrf_token": ann.csrf, "current": str(second)},
        follow_redirects=False,
    )
    assert undo.status_code == 303 and undo.headers["location"] == f"/review/items/{third}"
    (restored,) = rows(
        db, "SELECT action, decided_by FROM decisions WHERE submission_id = :s", s=third
    )
    assert restored == {"action": "review", "decided_by": "model"}
    assert rows(db, "SELECT status FROM appeals WHERE submission_id = :s", s=third) == [
        {"status": "open"}
    ]
    assert rows(db, "SELECT id FROM reviews WHERE submission_id = :s", s=third) == []
    claims = rows(
        db,
        "SELECT submission_id FROM review_claims WHERE submission_id IN (:a, :b)",
        a=third,
        b=second,
    )
    assert [c["submission_id"] for c in claims] == [third]  # back on it; `second` given back
    skipped = ann.client.post(
        f"/review/items/{third}/skip", data={"csrf_token": ann.csrf}, follow_redirects=False
    )
    assert _sid(skipped.headers["location"]) == second  # not `third` again, not bob's `first`
    assert f"skip={third}" in skipped.headers["location"]


def test_display_settings_are_each_users_own(
    db: str, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["review"])
    (sid,) = batch.ids
    ann = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    bob = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    assert '<div class="item blur-strong grayscale">' in ann.item(sid)  # the defaults hide most
    saved = ann.client.post(
        "/review/settings", data={"csrf_token": ann.csrf, "blur": "light"}, follow_redirects=False
    )
    assert saved.status_code == 303
    assert '<div class="item blur-light">' in ann.item(sid)  # grayscale off: its own toggle
    assert 'class="audit queue blur-light"' in ann.client.get("/review/").text
    assert '<div class="item blur-strong grayscale">' in bob.item(sid)
    refused = ann.client.post("/review/settings", data={"csrf_token": ann.csrf, "blur": "max"})
    assert refused.status_code == 400 and "blur must be one of" in refused.text
