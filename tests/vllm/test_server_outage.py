"""The inference server dies mid-batch: nothing fails, nothing is decided twice, and every
submission is decided once it is back; no attempt is used up by the outage."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import Keys
from tests.support import images
from tests.support.db import rows
from tests.support.processes import ApiServer, wait_for_status
from tests.support.vllm import VllmServer, start_served_worker

UPLOADS = 12


def _statuses(db: str, ids: list[str]) -> list[str]:
    found = rows(db, "SELECT status FROM submissions WHERE id = ANY(CAST(:ids AS uuid[]))", ids=ids)
    return sorted(r["status"] for r in found)


def test_a_server_killed_mid_batch_fails_nothing_and_decides_everything_once_back(
    vllm_server: VllmServer,
    api: ApiServer,
    keys: Keys,
    db: str,
    tmp_path: Path,
) -> None:
    with (
        start_served_worker(
            tmp_path / "worker.log",
            vllm_server,
            queues="inference",
            MODERATION_BATCH_SIZE="4",
            MODERATION_ENGINE_RETRY_MAX_S="4",  # tried again soon after the server is back
        ) as worker,
        api.client(keys.b) as client,
    ):
        uploads = [images.jpeg(30 + i, 70 - i, seed=900 + i) for i in range(UPLOADS)]
        ids = [
            client.post("/v1/moderations", files={"image": ("x.jpg", data, "image/jpeg")}).json()[
                "id"
            ]
            for data in uploads
        ]
        worker.wait_for_log("moderating a batch of", timeout=60)
        time.sleep(1.0)  # requests are in flight now (a batch takes several seconds here)
        vllm_server.kill()
        worker.wait_for_log("engine unavailable", timeout=60)
        time.sleep(3)
        assert "failed" not in _statuses(db, ids)
        vllm_server.start()
        bodies = [wait_for_status(client, sid, ("decided", "failed"), timeout=300) for sid in ids]
        assert worker.alive()
    assert [b["status"] for b in bodies] == ["decided"] * UPLOADS
    decided = rows(
        db,
        "SELECT submission_id, count(*) AS n FROM decisions "
        "WHERE submission_id = ANY(CAST(:ids AS uuid[])) GROUP BY submission_id",
        ids=ids,
    )
    assert sorted(r["n"] for r in decided) == [1] * UPLOADS  # none twice
    attempts = rows(
        db, "SELECT attempts FROM submissions WHERE id = ANY(CAST(:ids AS uuid[]))", ids=ids
    )
    assert {r["attempts"] for r in attempts} == {1}  # the outage used up no attempt
