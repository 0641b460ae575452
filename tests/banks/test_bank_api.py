"""``/v1/hash-banks`` through the real API: scopes, another tenant's banks and entries are 404,
malformed hashes are 422 naming the field, entries are paged."""

from __future__ import annotations

import uuid

import pytest

from tests.banks.support import bank_image, create_bank, photo_png, tenant
from tests.support.processes import ApiServer


def test_another_tenants_banks_and_entries_are_404(db: str, api: ApiServer) -> None:
    key_a, _ = tenant(db)
    key_b, _ = tenant(db)
    with api.client(key_a) as a, api.client(key_b) as b:
        bank_id = create_bank(a)
        entry = bank_image(a, bank_id, photo_png(1950))
        assert [x["id"] for x in a.get("/v1/hash-banks").json()["banks"]] == [bank_id]
        assert b.get("/v1/hash-banks").json()["banks"] == []
        entries = f"/v1/hash-banks/{bank_id}/entries"
        for response in (
            b.get(entries),
            b.post(entries, json={"pdq": "a" * 64}),
            b.delete(f"{entries}/{entry['id']}"),
            b.delete(f"/v1/hash-banks/{bank_id}"),
            a.delete(f"{entries}/{uuid.uuid4()}"),
            a.get(f"/v1/hash-banks/{uuid.uuid4()}/entries"),
        ):
            assert response.status_code == 404, response.text
        assert len(a.get(entries).json()["entries"]) == 1  # nothing of B's calls landed
        assert a.delete(f"/v1/hash-banks/{bank_id}").status_code == 204
        assert a.get(entries).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pdq": "xyz"}, "pdq"),
        ({"pdq": "a" * 63}, "pdq"),
        ({"pdq": "a" * 64, "md5": "nothex"}, "md5"),
        ({"pdq": "a" * 64, "sha256": "b" * 10}, "sha256"),
        ({"pdq": "a" * 64, "action": "allow"}, "action"),
        ({"md5": "a" * 32}, "pdq"),
    ],
)
def test_malformed_hashes_are_422_with_the_field(
    db: str, api: ApiServer, body: dict[str, str], field: str
) -> None:
    key, _ = tenant(db)
    with api.client(key) as client:
        bank_id = create_bank(client)
        response = client.post(f"/v1/hash-banks/{bank_id}/entries", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"].startswith(f"{field}:")
        assert client.get(f"/v1/hash-banks/{bank_id}/entries").json()["entries"] == []


def test_entries_are_paged_and_scopes_are_needed(db: str, api: ApiServer) -> None:
    from moderation.accounts.api_keys import issue_key
    from moderation.storage.db import session_scope

    key, tenant_id = tenant(db)
    with api.client(key) as client:
        bank_id = create_bank(client, "review", distance=20)
        for n in range(5):
            pdq = f"{n:02x}" * 32
            response = client.post(f"/v1/hash-banks/{bank_id}/entries", json={"pdq": pdq})
            assert response.status_code == 201 and response.json()["action"] == "review"
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"after": cursor} if cursor else {})}
            page = client.get(f"/v1/hash-banks/{bank_id}/entries", params=params).json()
            seen += [e["pdq"] for e in page["entries"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert seen == [f"{n:02x}" * 32 for n in range(5)]
        assert (
            client.post("/v1/hash-banks", json={"name": "x", "action": "allow"}).status_code == 422
        )
    with session_scope(db) as session:
        reader = issue_key(session, tenant_id, ["banks:read"], name="reader").plaintext
    with api.client(reader) as client:
        assert client.get("/v1/hash-banks").status_code == 200
        assert (
            client.post("/v1/hash-banks", json={"name": "y", "action": "block"}).status_code == 403
        )
