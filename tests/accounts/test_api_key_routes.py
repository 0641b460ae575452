"""/v1/api-keys and scopes against the real API and database."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import httpx
import pytest

from moderation.accounts.keys import hash_key
from moderation.admin import create_key, create_tenant_key
from tests.support import images
from tests.support.db import count, rows
from tests.support.processes import ApiServer

_TENANT_KEYS = (
    "SELECT k.id::text AS id FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.name = :n"
)


@pytest.fixture
def tenant(db: str) -> tuple[str, str]:
    """A new tenant and its all-scopes key: (name, key)."""
    name = f"keys-api-{uuid.uuid4().hex[:8]}"
    return name, create_tenant_key(db, name)


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code
    message: str = body["error"]["message"]
    return message


def _create(api: ApiServer, key: str, scopes: Sequence[str], name: str = "k") -> httpx.Response:
    with api.client(key) as client:
        return client.post("/v1/api-keys", json={"name": name, "scopes": list(scopes)})


def _submit(api: ApiServer, key: str) -> httpx.Response:
    with api.client(key) as client:
        return client.post("/v1/moderations", files={"image": ("a.png", images.png(), "image/png")})


def test_create_shows_the_key_once_and_list_shows_prefixes_only(
    api: ApiServer, db: str, tenant: tuple[str, str]
) -> None:
    _, admin_key = tenant
    created = _create(api, admin_key, ["moderations:write", "moderations:read"], "ingest")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"].startswith("mod_") and body["prefix"] == body["key"][:12]
    assert body["scopes"] == ["moderations:read", "moderations:write"]
    assert body["name"] == "ingest" and body["revoked_at"] is None
    assert _submit(api, body["key"]).status_code == 202
    (stored,) = rows(db, "SELECT key_hash FROM api_keys WHERE id = :i", i=body["id"])
    assert stored["key_hash"] == hash_key(body["key"])
    with api.client(admin_key) as client:
        listed = client.get("/v1/api-keys")
    assert listed.status_code == 200
    assert body["key"] not in listed.text and "key_hash" not in listed.text
    by_id = {k["id"]: k for k in listed.json()}
    assert set(by_id) == {r["id"] for r in rows(db, _TENANT_KEYS, n=tenant[0])}
    assert by_id[body["id"]] == {k: v for k, v in body.items() if k != "key"}


def test_a_revoked_key_is_refused_on_the_very_next_request(
    api: ApiServer, tenant: tuple[str, str]
) -> None:
    _, admin_key = tenant
    new = _create(api, admin_key, ["moderations:read"]).json()
    with api.client(new["key"]) as client:
        assert client.get(f"/v1/moderations/{uuid.uuid4()}").status_code == 404  # authenticated
        with api.client(admin_key) as admin:
            assert admin.delete(f"/v1/api-keys/{new['id']}").status_code == 204
            assert admin.delete(f"/v1/api-keys/{new['id']}").status_code == 204  # idempotent
            (listed,) = [k for k in admin.get("/v1/api-keys").json() if k["id"] == new["id"]]
        assert listed["revoked_at"] is not None
        _error(client.get(f"/v1/moderations/{uuid.uuid4()}"), 401, "unauthorized")


def test_a_revoked_key_known_to_the_api_uploads_nothing(
    api: ApiServer, db: str, tenant: tuple[str, str]
) -> None:
    """Uploads take a key seen lately from memory; the intake statement re-checks it."""
    new = _create(api, tenant[1], ["moderations:write"]).json()
    assert _submit(api, new["key"]).status_code == 202  # the API process now knows the key
    with api.client(tenant[1]) as admin:
        assert admin.delete(f"/v1/api-keys/{new['id']}").status_code == 204
    mine = "submissions s JOIN tenants t ON t.id = s.tenant_id WHERE t.name = :n"
    before = count(db, mine, n=tenant[0])
    _error(_submit(api, new["key"]), 401, "unauthorized")
    assert count(db, mine, n=tenant[0]) == before
    assert _submit(api, tenant[1]).status_code == 202  # other keys of the tenant still work


def test_a_key_can_revoke_itself(api: ApiServer, tenant: tuple[str, str]) -> None:
    new = _create(api, tenant[1], ["keys:write"]).json()
    with api.client(new["key"]) as client:
        assert client.delete(f"/v1/api-keys/{new['id']}").status_code == 204
        _error(client.get("/v1/api-keys"), 401, "unauthorized")


def test_missing_scopes_are_403(api: ApiServer, tenant: tuple[str, str]) -> None:
    reader = _create(api, tenant[1], ["moderations:read"]).json()["key"]
    assert "moderations:write" in _error(_submit(api, reader), 403, "forbidden")
    with api.client(reader) as client:
        assert "keys:write" in _error(client.get("/v1/api-keys"), 403, "forbidden")
    writer = _create(api, tenant[1], ["moderations:write"]).json()["key"]
    submitted = _submit(api, writer)
    assert submitted.status_code == 202
    with api.client(writer) as client:
        response = client.get(f"/v1/moderations/{submitted.json()['id']}")
    assert "moderations:read" in _error(response, 403, "forbidden")


def test_a_key_cannot_grant_scopes_it_lacks(api: ApiServer, tenant: tuple[str, str]) -> None:
    limited = _create(api, tenant[1], ["keys:write", "moderations:read"]).json()["key"]
    message = _error(_create(api, limited, ["moderations:write"]), 403, "forbidden")
    assert "moderations:write" in message
    assert _create(api, limited, ["moderations:read"]).status_code == 201


def test_unknown_scopes_and_empty_scope_lists_are_422(
    api: ApiServer, tenant: tuple[str, str]
) -> None:
    _error(_create(api, tenant[1], ["everything"]), 422, "invalid_request")
    _error(_create(api, tenant[1], []), 422, "invalid_request")


def test_tenants_cannot_see_or_revoke_each_others_keys(
    api: ApiServer, db: str, tenant: tuple[str, str]
) -> None:
    other_name = f"keys-other-{uuid.uuid4().hex[:8]}"
    other_key = create_tenant_key(db, other_name)
    mine = _create(api, tenant[1], ["moderations:read"]).json()
    with api.client(other_key) as other:
        _error(other.delete(f"/v1/api-keys/{mine['id']}"), 404, "not_found")
        _error(other.delete(f"/v1/api-keys/{uuid.uuid4()}"), 404, "not_found")
        _error(other.delete("/v1/api-keys/not-a-uuid"), 404, "not_found")
        assert mine["id"] not in {k["id"] for k in other.get("/v1/api-keys").json()}
    with api.client(mine["key"]) as client:
        assert client.get(f"/v1/moderations/{uuid.uuid4()}").status_code == 404  # still valid


def test_keys_created_by_the_cli_work_with_their_scopes(
    api: ApiServer, db: str, tenant: tuple[str, str]
) -> None:
    key = create_key(db, tenant[0], ["moderations:write"], "from-admin")
    assert _submit(api, key).status_code == 202
    with api.client(key) as client:
        _error(client.get("/v1/api-keys"), 403, "forbidden")


def test_a_mistyped_key_is_401(api: ApiServer, tenant: tuple[str, str]) -> None:
    key = tenant[1]
    typo = key[:-1] + ("0" if key[-1] != "0" else "1")
    assert "invalid" in _error(_submit(api, typo), 401, "unauthorized")
