"""Upload → Postgres → Celery → a real worker process with a tiny LLaVA → decision → Postgres."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Keys
from tests.e2e.checks import assert_matches_database, assert_valid_decision
from tests.support import images
from tests.support.processes import ApiServer, WorkerProcess, start_worker, wait_for_status

ARCHITECTURES = ("llava", "llava_next", "llava_onevision")


@pytest.fixture(scope="module", params=ARCHITECTURES)
def worker(
    request: pytest.FixtureRequest,
    checkpoints: dict[str, Path],
    db: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WorkerProcess]:
    arch = request.param
    log = tmp_path_factory.mktemp(f"worker-{arch}") / "worker.log"
    with start_worker(log, checkpoints[arch]) as process:
        yield process


@pytest.mark.parametrize(
    ("policy", "data"),
    [("default", images.jpeg(96, 64, seed=21)), ("marketplace", images.png(40, 70, seed=22))],
    ids=["default-jpeg", "marketplace-png"],
)
def test_uploaded_image_is_decided_and_stored(
    worker: WorkerProcess, api: ApiServer, keys: Keys, db: str, policy: str, data: bytes
) -> None:
    with api.client(keys.a) as client:
        created = client.post(
            "/v1/moderations",
            files={"image": ("upload.bin", data, "application/octet-stream")},
            data={"policy": policy, "external_id": f"e2e-{policy}"},
        )
        assert created.status_code == 202, created.text
        body = wait_for_status(client, created.json()["id"], ("decided", "failed"), timeout=60)
    assert body["status"] == "decided", body
    assert body["error"] is None and body["external_id"] == f"e2e-{policy}"
    assert_valid_decision(body)
    assert_matches_database(db, body)
    assert worker.alive()


def test_reupload_is_decided_from_the_verdict_cache(
    worker: WorkerProcess, api: ApiServer, keys: Keys
) -> None:
    data = images.jpeg(50, 50, seed=23)
    decisions = []
    with api.client(keys.a) as client:
        for _ in range(2):
            created = client.post(
                "/v1/moderations", files={"image": ("again.jpg", data, "image/jpeg")}
            )
            decisions.append(
                wait_for_status(client, created.json()["id"], ("decided",))["decision"]
            )
    first, second = decisions
    assert (first["source"], second["source"]) == ("model", "cache")
    assert {k: v for k, v in first.items() if k not in ("source", "decided_at")} == {
        k: v for k, v in second.items() if k not in ("source", "decided_at")
    }


def test_sync_mode_answers_200_with_the_decision(
    worker: WorkerProcess, api: ApiServer, keys: Keys
) -> None:
    data = images.jpeg(40, 44, seed=worker.proc.pid % 200 + 40)
    with api.client(keys.a) as client:
        response = client.post(
            "/v1/moderations?wait=20", files={"image": ("sync.jpg", data, "image/jpeg")}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "decided"
    assert_valid_decision(body)


def test_health_reports_the_worker_model_and_device(worker: WorkerProcess, api: ApiServer) -> None:
    with api.client() as client:
        health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["database"] == "ok"
    mine = [w for w in health["workers"] if w["name"].endswith(f":{worker.proc.pid}")]
    assert len(mine) == 1, health["workers"]
    (entry,) = mine
    assert "RANDOM WEIGHTS" in entry["model"]["id"] and entry["model"]["revision"]
    assert (entry["device"], entry["dtype"], entry["warmed_up"]) == ("cpu", "float32", True)
    assert entry["batch_size"] == 8
    assert entry["profile"] == "generic"  # auto: a tiny checkpoint is no LlavaGuard
    assert health["engine"]["kind"] == "local"
    # the API's own view: no MODERATION_MODEL here, so the demo checkpoint, which auto asks the
    # generic way
    assert health["engine"]["profile"] == {
        "name": "generic",
        "reason": "auto: not a LlavaGuard checkpoint",
    }
