"""Erasure and legal hold through the JSON API, seen by the API and the console: 204, then
``image.purged_at``, "image deleted on …" and a 410 image; a held image answers 409."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

from moderation.admin import create_key
from tests.console.pages import Reviewer
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
