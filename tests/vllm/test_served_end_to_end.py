"""Upload → worker (MODERATION_ENGINE=vllm, no model, no torch) → a real vLLM server → decision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from moderation.config import Settings
from moderation.health.service import check_engine
from moderation.inference.fingerprint import local_revision
from tests.conftest import Keys
from tests.e2e.checks import assert_matches_database, assert_valid_decision
from tests.support import images
from tests.support.processes import (
    ApiServer,
    WorkerProcess,
    free_port,
    start_api,
    wait_for_status,
)
from tests.support.vllm import VllmServer, start_served_worker


@pytest.fixture(scope="module")
def worker(
    vllm_server: VllmServer, db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    log = tmp_path_factory.mktemp("served-worker") / "worker.log"
    with start_served_worker(
        log,
        vllm_server,
        queues="inference",
    ) as process:
        yield process


def test_uploads_are_decided_by_the_server_with_its_provenance(
    worker: WorkerProcess, api: ApiServer, keys: Keys, db: str, small_llava: Path
) -> None:
    uploads = [
        images.jpeg(96, 64, seed=71),
        images.png(40, 70, seed=72),
        images.jpeg(33, 90, seed=73),
    ]
    with api.client(keys.a) as client:
        created = [
            client.post(
                "/v1/moderations", files={"image": ("u.bin", data, "application/octet-stream")}
            )
            for data in uploads
        ]
        assert all(c.status_code == 202 for c in created), [c.text for c in created]
        bodies = [
            wait_for_status(client, c.json()["id"], ("decided", "failed"), 120) for c in created
        ]
    for body in bodies:
        assert body["status"] == "decided", body
        assert_valid_decision(body)  # schema-valid, scores sum to 1 within 1e-6, the policy's ids
        row = assert_matches_database(db, body)  # rationale and raw text stored
        model = body["decision"]["model"]
        assert model["engine"] == "vllm" and row["decoding"]["engine"] == "vllm"
        assert model["decoding"]["served_model"] == str(small_llava)
        assert model["decoding"]["vllm"] == "0.32.0"
        assert model["revision"] == local_revision(small_llava)  # the checkpoint's hash


def test_a_reupload_is_decided_from_the_served_verdict_cache(
    worker: WorkerProcess, api: ApiServer, keys: Keys
) -> None:
    data = images.png(52, 52, seed=74)
    with api.client(keys.a) as client:
        decisions = [
            wait_for_status(
                client,
                client.post(
                    "/v1/moderations", files={"image": ("a.png", data, "image/png")}
                ).json()["id"],
                ("decided",),
                120,
            )["decision"]
            for _ in range(2)
        ]
    assert [d["source"] for d in decisions] == ["model", "cache"]
    assert decisions[1]["model"]["engine"] == "vllm"


def test_an_animation_has_its_frames_judged_by_the_server(
    worker: WorkerProcess, api: ApiServer, keys: Keys, db: str
) -> None:
    data = images.animation(64, 48, seed=75, frames=6)
    with api.client(keys.a) as client:
        created = client.post("/v1/moderations", files={"image": ("a.gif", data, "image/gif")})
        assert created.status_code == 202, created.text
        body = wait_for_status(client, created.json()["id"], ("decided", "failed"), 120)
    assert body["status"] == "decided", body
    assert_valid_decision(body)
    assert_matches_database(db, body)
    decision = body["decision"]
    assert decision["model"]["engine"] == "vllm"
    frames = decision["frames"]
    assert len(frames) >= 3 and frames[0]["index"] == 0
    assert decision["scores"]["unsafe"] == max(f["unsafe"] for f in frames)


def test_the_worker_holds_no_model_and_no_torch(worker: WorkerProcess) -> None:
    maps = Path(f"/proc/{worker.proc.pid}/maps").read_text()
    assert "libtorch" not in maps
    assert "engine: vLLM server at" in worker.log()


def test_health_says_whether_the_server_answers(vllm_server: VllmServer, db: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    for url, status in ((vllm_server.url, "ok"), (dead, "degraded")):
        with start_api(Settings(engine="vllm", engine_url=url)) as server, server.client() as c:
            response = c.get("/healthz")
        assert response.status_code == 200  # uploads are still taken while the server is down
        body = response.json()
        assert body["status"] == status and body["engine"]["kind"] == "vllm"
        if status == "ok":
            assert body["engine"]["status"] == "ok" and body["engine"]["vllm"] == "0.32.0"
            # auto: the served small checkpoint is no LlavaGuard
            assert body["engine"]["profile"]["name"] == "generic"
        else:
            assert body["engine"]["status"].startswith("error: ")
            assert "unreachable" in body["engine"]["status"]
    local = check_engine(Settings(engine="local", model="/models/LlavaGuard-v1.2-0.5B-OV-hf"))
    assert local == {
        "kind": "local",
        "model": "/models/LlavaGuard-v1.2-0.5B-OV-hf",
        "profile": {
            "name": "llavaguard",
            "reason": "auto: /models/LlavaGuard-v1.2-0.5B-OV-hf is LlavaGuard 1.2",
        },
    }
