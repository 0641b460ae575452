"""Idempotent submits, sync mode limits, appeals and `flagged`, against the real API and DB.
Decisions are made by the real flow with a tiny checkpoint, in this process."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from moderation.storage.blobs import FileBlobStore
from moderation.submissions.moderation_flow import FlowContext, moderate_submissions_flow
from tests.conftest import Env, Keys
from tests.support import images
from tests.support.db import count, rows
from tests.support.processes import ApiServer


@pytest.fixture(scope="module")
def engine(checkpoints: dict[str, Path]) -> Any:
    from moderation.inference import load_engine

    return load_engine(str(checkpoints["llava"]), warm_up=False)


def _decide(env: Env, db: str, engine: Any, submission_id: str) -> None:
    ctx = FlowContext(db, FileBlobStore(env.data_dir / "blobs"), 10**7, 3)
    report = moderate_submissions_flow(ctx, engine, [uuid.UUID(submission_id)])
    assert report.decided or report.cached, report


def _submit(
    client: httpx.Client, data: bytes, key: str | None = None, **form: str
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post(
        "/v1/moderations",
        files={"image": ("x.jpg", data, "image/jpeg")},
        data=form,
        headers=headers,
    )


def test_same_idempotency_key_and_request_returns_the_same_submission(
    api: ApiServer, keys: Keys, db: str
) -> None:
    key = f"retry-{uuid.uuid4()}"
    data = images.jpeg(33, 31, seed=61)
    with api.client(keys.a) as client:
        first = _submit(client, data, key, external_id="post-61")
        before = count(db, "submissions")
        second = _submit(client, data, key, external_id="post-61")
    assert first.status_code == second.status_code == 202, second.text
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert count(db, "submissions") == before  # no second submission, so no second inference
    messages = rows(
        db, "SELECT id FROM outbox WHERE args->>'submission_id' = :id", id=first.json()["id"]
    )
    assert len(messages) == 1


def test_same_idempotency_key_with_another_request_is_409(
    api: ApiServer, keys: Keys, db: str
) -> None:
    key = f"retry-{uuid.uuid4()}"
    with api.client(keys.a) as client:
        assert _submit(client, images.jpeg(33, 31, seed=62), key).status_code == 202
        before = count(db, "submissions")
        other_image = _submit(client, images.jpeg(33, 31, seed=63), key)
        other_policy = _submit(client, images.jpeg(33, 31, seed=62), key, policy="marketplace")
    for response in (other_image, other_policy):
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert key in response.json()["error"]["message"]
    assert count(db, "submissions") == before


def test_idempotency_keys_are_per_tenant(api: ApiServer, keys: Keys) -> None:
    key = f"shared-{uuid.uuid4()}"
    data = images.jpeg(33, 31, seed=64)
    with api.client(keys.a) as a, api.client(keys.b) as b:
        first, other = _submit(a, data, key), _submit(b, data, key)
    assert first.status_code == other.status_code == 202
    assert first.json()["id"] != other.json()["id"]


def test_idempotency_key_with_unknown_policy_stores_nothing(
    api: ApiServer, keys: Keys, db: str
) -> None:
    key = f"k-{uuid.uuid4()}"
    with api.client(keys.a) as client:
        refused = _submit(client, images.jpeg(seed=65), key, policy="no-such-policy")
        assert refused.status_code == 422
        assert count(db, "idempotency_keys WHERE key = :k", k=key) == 0
        assert _submit(client, images.jpeg(seed=65), key).status_code == 202  # key still free


@pytest.mark.parametrize("wait", ["31", "-1", "soon"])
def test_wait_outside_0_to_30_seconds_is_422(api: ApiServer, keys: Keys, wait: str) -> None:
    with api.client(keys.a) as client:
        response = client.post(
            f"/v1/moderations?wait={wait}", files={"image": ("x.jpg", images.jpeg(), "image/jpeg")}
        )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


def test_wait_that_runs_out_answers_202(api: ApiServer, keys: Keys) -> None:
    with api.client(keys.a) as client:  # no worker consumes the API's queue in this module
        response = client.post(
            "/v1/moderations?wait=0.3",
            files={"image": ("x.jpg", images.jpeg(30, 30, seed=66), "image/jpeg")},
        )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued" and response.json()["flagged"] is None


def test_json_body_needs_an_image_url_and_other_types_are_415(api: ApiServer, keys: Keys) -> None:
    with api.client(keys.a) as client:
        missing = client.post("/v1/moderations", json={"policy": "default"})
        extra = client.post("/v1/moderations", json={"image_url": "https://x/y.jpg", "foo": 1})
        text = client.post("/v1/moderations", content=b"hi", headers={"content-type": "text/plain"})
    assert missing.status_code == 422 and "image_url" in missing.json()["error"]["message"]
    assert extra.status_code == 422 and "foo" in extra.json()["error"]["message"]
    assert text.status_code == 415 and "image_url" in text.json()["error"]["message"]


def test_appeal_puts_a_decision_in_review_and_get_shows_it(
    api: ApiServer, keys: Keys, db: str, env: Env, engine: Any
) -> None:
    with api.client(keys.a) as client:
        created = _submit(client, images.jpeg(37, 35, seed=67)).json()
        early = client.post(
            f"/v1/moderations/{created['id']}/appeals", json={"reason": "too early"}
        )
        assert early.status_code == 409 and early.json()["error"]["code"] == "not_appealable"
        _decide(env, db, engine, created["id"])
        decided = client.get(f"/v1/moderations/{created['id']}").json()
        assert decided["flagged"] is (decided["decision"]["action"] != "allow")
        assert decided["appeal"] is None
        filed = client.post(
            f"/v1/moderations/{created['id']}/appeals", json={"reason": "It is a painting."}
        )
        again = client.post(f"/v1/moderations/{created['id']}/appeals", json={"reason": "again"})
        shown = client.get(f"/v1/moderations/{created['id']}").json()
    assert filed.status_code == 201, filed.text
    assert filed.json()["status"] == "open" and filed.json()["reason"] == "It is a painting."
    assert again.status_code == 409
    assert shown["appeal"] == filed.json()
    events = rows(
        db,
        "SELECT event, data->>'appeal_id' AS appeal FROM audit_events WHERE subject_id = :s "
        "AND event = 'appeal.filed'",
        s=created["id"],
    )
    assert events == [{"event": "appeal.filed", "appeal": filed.json()["id"]}]


def test_appeal_of_another_tenants_moderation_is_404(
    api: ApiServer, keys: Keys, db: str, env: Env, engine: Any
) -> None:
    with api.client(keys.a) as a, api.client(keys.b) as b:
        created = _submit(a, images.jpeg(37, 35, seed=68)).json()
        _decide(env, db, engine, created["id"])
        foreign = b.post(f"/v1/moderations/{created['id']}/appeals", json={"reason": "mine?"})
        empty = a.post(f"/v1/moderations/{created['id']}/appeals", json={"reason": ""})
    assert foreign.status_code == 404
    assert empty.status_code == 422


def test_concurrent_retries_with_one_key_store_one_submission(
    api: ApiServer, keys: Keys, db: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    key = f"race-{uuid.uuid4()}"
    data = images.jpeg(35, 33, seed=69)

    def attempt(_: int) -> httpx.Response:
        with api.client(keys.a) as client:
            return _submit(client, data, key)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(attempt, range(6)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 5
    assert count(db, "idempotency_keys WHERE key = :k", k=key) == 1
