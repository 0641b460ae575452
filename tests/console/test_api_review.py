"""``POST /v1/moderations/{id}/review``: a platform's own reviewer decides through the API with
the console's rules (issue #19 point 3: a block may add the image to a hash bank), and never
takes an item a console reviewer holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from moderation.admin import create_key
from moderation.banks.matching import hashes_of
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import session_scope
from tests.conftest import Env
from tests.console.pages import Reviewer
from tests.console.support import make_account
from tests.review.support import Batch
from tests.support.db import rows
from tests.support.processes import ApiServer

Clients = Callable[[], TestClient]


def _client(server: ApiServer, db: str, batch: Batch, *scopes: str) -> httpx.Client:
    (tenant,) = rows(db, "SELECT name FROM tenants WHERE id = :t", t=batch.tenant_id)
    return server.client(create_key(db, str(tenant["name"]), scopes, "api review test"))


def _hash_images(db: str, blobs: Path, batch: Batch) -> None:
    """What the worker does before the model: each image's hashes stored."""
    shas = [
        str(r["image_sha256"])
        for r in rows(
            db, "SELECT image_sha256 FROM submissions WHERE id = ANY(:i)", i=list(batch.ids)
        )
    ]
    store = FileBlobStore(blobs)
    with session_scope(db) as session:
        hashes_of(session, {sha: store.get(sha) for sha in shas})


def test_a_platform_reviewer_decides_through_the_api(
    db: str, env: Env, api: ApiServer, new_client: Clients, make_batch: Callable[..., Batch]
) -> None:
    batch = make_batch(["review", "allow", "allow", "allow"])
    to_review, allowed, held, banked = batch.ids
    reviewer = _client(api, db, batch, "reviews:write", "banks:write", "banks:read")
    url = "/v1/moderations/{}/review"

    agreed = reviewer.post(url.format(to_review), json={"action": "block", "category": "O2"})
    assert agreed.status_code == 200, agreed.text
    decision = agreed.json()["decision"]
    assert (decision["action"], decision["category"], decision["decided_by"]) == (
        "block",
        "O2",
        "reviewer",
    )
    again = reviewer.post(url.format(to_review), json={"action": "allow", "note": "fine"})
    assert again.status_code == 409  # reviewed already: only on purpose
    changed = {"action": "allow", "note": "a toy, not a weapon", "again": True}
    assert reviewer.post(url.format(to_review), json=changed).json()["decision"]["action"] == (
        "allow"
    )

    no_note = reviewer.post(url.format(allowed), json={"action": "block", "category": "O1"})
    assert no_note.status_code == 422 and "note" in no_note.json()["error"]["message"]

    account = make_account(db, "reviewer", batch.tenant_id)
    console = Reviewer(new_client(), account)
    assert console.post(held, "claim")[0] in (200, 303)
    taken = reviewer.post(url.format(held), json={"action": "allow"})
    assert taken.status_code == 409 and account.email in taken.json()["error"]["message"]

    other = make_batch(["allow"])
    outsider = _client(api, db, other, "reviews:write")
    assert outsider.post(url.format(banked), json={"action": "allow"}).status_code == 404
    reader = _client(api, db, batch, "moderations:read")
    assert reader.post(url.format(banked), json={"action": "allow"}).status_code == 403

    _hash_images(db, env.data_dir / "blobs", batch)
    bank = reviewer.post("/v1/hash-banks", json={"name": "api-reviewed", "action": "block"})
    assert bank.status_code == 201, bank.text
    block = {"action": "block", "category": "O1", "note": "known", "add_to_bank": bank.json()["id"]}
    assert reviewer.post(url.format(banked), json=block).status_code == 200
    entries = reviewer.get(f"/v1/hash-banks/{bank.json()['id']}/entries").json()
    (entry,) = entries["entries"]
    assert str(banked) in entry["source"]
    events = rows(
        db,
        "SELECT actor FROM audit_events WHERE subject_id = :s AND event LIKE 'review.%'",
        s=str(banked),
    )
    assert events and all(str(e["actor"]).startswith("api:") for e in events)
