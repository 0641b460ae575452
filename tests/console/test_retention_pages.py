"""Erasure and legal hold through the JSON API, seen by the API and the console: 204, then
``image.purged_at``, "image deleted on …" and a 410 image; a held image answers 409."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import text

from moderation.admin import create_key
from tests.console.pages import Reviewer, element_text
from tests.console.support import make_account
from tests.retention.support import sha_of, stored_files
from tests.review.support import Batch
from tests.support.db import rows
from tests.support.processes import ApiServer

Clients = Callable[[], TestClient]
Batches = Callable[..., Batch]


def _api(server: ApiServer, db: str, batch: Batch, *scopes: str) -> httpx.Client:
    (tenant,) = rows(db, "SELECT name FROM tenants WHERE id = :t", t=batch.tenant_id)
    return server.client(create_key(db, str(tenant["name"]), scopes, "retention test"))


def test_erasure_hold_and_release(
    db: str, env: object, api: ApiServer, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["allow", "allow"])
    erased, held = batch.ids
    blobs = env.data_dir / "blobs"  # type: ignore[attr-defined]
    writer = _api(api, db, batch, "moderations:write", "moderations:read")
    holder = _api(api, db, batch, "moderations:hold", "moderations:read")

    assert writer.delete(f"/v1/moderations/{erased}/image").status_code == 204
    view = writer.get(f"/v1/moderations/{erased}").json()
    assert view["image"]["purged_at"] is not None
    assert view["decision"]["action"] == "allow"  # the decision stays
    assert sha_of(db, erased) not in stored_files(blobs)
    admin = Reviewer(new_client(), make_account(db, "admin"))
    page = admin.item(erased)
    assert 'id="image-deleted"' in page and "image deleted on" in page
    assert '<img id="item-image"' not in page
    assert admin.client.get(f"/review/items/{erased}/image").status_code == 410
    assert writer.delete(f"/v1/moderations/{erased}/image").status_code == 204  # idempotent

    assert writer.put(f"/v1/moderations/{held}/legal-hold", json={"reason": "x"}).status_code == 403
    placed = holder.put(f"/v1/moderations/{held}/legal-hold", json={"reason": "case 118"})
    assert placed.status_code == 204
    assert writer.get(f"/v1/moderations/{held}").json()["legal_hold"]["reason"] == "case 118"
    refused = writer.delete(f"/v1/moderations/{held}/image")
    assert refused.status_code == 409 and "legal hold" in refused.json()["error"]["message"]
    assert sha_of(db, held) in stored_files(blobs)
    assert holder.delete(f"/v1/moderations/{held}/legal-hold").status_code == 204
    assert writer.delete(f"/v1/moderations/{held}/image").status_code == 204
    assert sha_of(db, held) not in stored_files(blobs)

    events = rows(
        db,
        "SELECT event FROM audit_events WHERE subject_id IN (:a, :b) ORDER BY id",
        a=str(erased),
        b=str(held),
    )
    names = [e["event"] for e in events]
    assert names.count("image.erased") == 2
    assert "legal_hold.placed" in names and "legal_hold.released" in names


def test_erasure_waits_for_the_decision(db: str, env: object, api: ApiServer) -> None:
    from tests.retention.support import store

    blobs = env.data_dir / "blobs"  # type: ignore[attr-defined]
    sid = store(db, blobs, 777, "retention-open")
    (tenant,) = rows(db, "SELECT tenant_id FROM submissions WHERE id = :i", i=sid)
    writer = _api(api, db, Batch(tenant["tenant_id"], [sid]), "moderations:write")  # type: ignore[arg-type]
    answer = writer.delete(f"/v1/moderations/{sid}/image")
    assert answer.status_code == 409
    assert "queued" in answer.json()["error"]["message"]
    assert sha_of(db, sid) in stored_files(blobs)


def test_a_console_admin_places_and_releases_a_hold_a_reviewer_cannot(
    db: str, env: object, api: ApiServer, new_client: Clients, make_batch: Batches
) -> None:
    batch = make_batch(["allow"])
    (sid,) = batch.ids
    writer = _api(api, db, batch, "moderations:write", "moderations:read")
    admin = Reviewer(new_client(), make_account(db, "admin", batch.tenant_id))
    assert 'id="place-hold"' in admin.item(sid)
    reviewer = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    assert 'id="place-hold"' not in reviewer.item(sid)
    hold = f"/review/items/{sid}/legal-hold"
    refused = reviewer.client.post(hold, data={"csrf_token": reviewer.csrf, "reason": "x"})
    assert refused.status_code == 403

    placed = admin.client.post(
        hold, data={"csrf_token": admin.csrf, "reason": "police request 7"}, follow_redirects=True
    )
    assert placed.status_code == 200 and "police request 7" in placed.text
    assert 'id="release-hold"' in placed.text
    erase = writer.delete(f"/v1/moderations/{sid}/image")
    assert erase.status_code == 409 and "police request 7" in erase.json()["error"]["message"]
    other = Reviewer(new_client(), make_account(db, "admin", make_batch([]).tenant_id))
    assert (
        other.client.post(hold, data={"csrf_token": other.csrf, "reason": "x"}).status_code == 404
    )

    released = admin.client.post(
        f"{hold}/release", data={"csrf_token": admin.csrf}, follow_redirects=True
    )
    assert released.status_code == 200 and 'id="legal-hold"' not in released.text
    assert writer.delete(f"/v1/moderations/{sid}/image").status_code == 204
    events = rows(
        db,
        "SELECT event, actor FROM audit_events WHERE subject_id = :s AND event LIKE 'legal_hold.%' "
        "ORDER BY id",
        s=str(sid),
    )
    assert [e["event"] for e in events] == ["legal_hold.placed", "legal_hold.released"]
    assert all(str(e["actor"]).startswith("user:admin-") for e in events)


def test_a_backtest_skips_reviewed_items_whose_image_was_deleted_and_says_how_many(
    db: str, api: ApiServer, new_client: Clients, make_batch: Batches
) -> None:
    import uuid

    import yaml

    from moderation.policies.authoring import Author, create_draft
    from moderation.review.repository import add_review
    from moderation.storage.db import session_scope
    from tests.conftest import ROOT

    batch = make_batch(["allow", "allow"], policy="marketplace")
    kept, erased = batch.ids
    with session_scope(db) as session:
        for (decision_id,) in session.execute(
            text("SELECT id FROM decisions WHERE submission_id = ANY(:i)"), {"i": batch.ids}
        ):
            add_review(session, decision_id=decision_id, reviewer="ann", outcome="confirm")
        rubric = yaml.safe_load((ROOT / "policies" / "marketplace.yaml").read_text())
        rubric["title"] = f"Draft {uuid.uuid4().hex[:6]}"
        draft = create_draft(
            session, Author(batch.tenant_id, "t"), "marketplace", yaml.safe_dump(rubric)
        )
    writer = _api(api, db, batch, "moderations:write")
    assert writer.delete(f"/v1/moderations/{erased}/image").status_code == 204

    author = Reviewer(new_client(), make_account(db, "policy_author", batch.tenant_id))
    page = author.client.post(
        f"/review/policies/marketplace/drafts/{draft.id}/backtests",
        data={"csrf_token": author.csrf},
        follow_redirects=True,
    )
    assert page.status_code == 200, page.text
    assert element_text(page.text, "backtest-total") == "1"
    assert element_text(page.text, "backtest-skipped") == "1 skipped (image deleted)"
    (run,) = rows(
        db,
        "SELECT r.total, r.skipped_purged, i.submission_id FROM backtest_runs r "
        "JOIN backtest_items i ON i.run_id = r.id WHERE r.draft_id = :d",
        d=draft.id,
    )
    assert (run["total"], run["skipped_purged"], run["submission_id"]) == (1, 1, kept)
