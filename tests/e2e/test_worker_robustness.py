"""Redelivery, duplicates, hostile messages and broken blobs never crash the worker or lose work."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Keys
from tests.support import images
from tests.support.db import rows
from tests.support.intake import accept_without_sending
from tests.support.processes import ApiServer, WorkerProcess, start_worker, wait_for_status


@pytest.fixture(scope="module")
def worker(
    checkpoints: dict[str, Path], db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    log = tmp_path_factory.mktemp("worker-robust") / "worker.log"
    with start_worker(
        log, checkpoints["llava_onevision"], queues="inference,maintenance"
    ) as process:
        yield process


def _moderated(worker: WorkerProcess) -> int:
    """How many submissions the worker has handed to the flow so far."""
    return sum(worker.batch_sizes())


def _publish(submission_id: str) -> None:
    from workers.app import publish

    publish("inference.moderate", "inference", {"submission_id": submission_id})


def _submit(api: ApiServer, key: str, seed: int) -> str:
    with api.client(key) as client:
        response = client.post(
            "/v1/moderations",
            files={"image": ("a.png", images.png(30, 30, seed=seed), "image/png")},
        )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def _decisions(db: str, sid: str) -> tuple[int, int]:
    n = rows(db, "SELECT count(*) AS n FROM decisions WHERE submission_id = :s", s=sid)[0]["n"]
    events = rows(
        db,
        "SELECT count(*) AS n FROM audit_events WHERE subject_id = :s AND event = 'decision.made'",
        s=sid,
    )[0]["n"]
    return int(n), int(events)  # type: ignore[call-overload]


def _drain(api: ApiServer, key: str, seed: int) -> None:
    """Queue a marker submission and wait for it: the single FIFO worker is then past all
    messages sent before it."""
    marker = _submit(api, key, seed=seed)
    with api.client(key) as client:
        wait_for_status(client, marker, ("decided", "failed"))


def test_redelivered_and_duplicate_messages_decide_once(
    worker: WorkerProcess, api: ApiServer, keys: Keys, db: str
) -> None:
    sid = _submit(api, keys.a, seed=301)
    _publish(sid)  # duplicates racing the original message
    _publish(sid)
    _drain(api, keys.a, seed=3011)
    with api.client(keys.a) as client:
        body = wait_for_status(client, sid, ("decided",))
    _publish(sid)  # a redelivery long after the decision
    _drain(api, keys.a, seed=3012)
    assert _decisions(db, sid) == (1, 1)
    with api.client(keys.a) as client:
        assert client.get(f"/v1/moderations/{sid}").json()["decision"] == body["decision"]


def test_hostile_messages_do_not_crash_the_worker(
    worker: WorkerProcess, api: ApiServer, keys: Keys
) -> None:
    from workers.app import publish

    publish("inference.moderate", "inference", {"submission_id": "'; DROP TABLE submissions; --"})
    publish("inference.moderate", "inference", {"submission_id": str(uuid.uuid4())})
    worker.wait_for_log("malformed submission id", timeout=30)
    sid = _submit(api, keys.a, seed=302)
    with api.client(keys.a) as client:
        assert wait_for_status(client, sid, ("decided", "failed"))["status"] == "decided"
    assert worker.alive()


def _wait_final(db: str, sid: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        (row,) = rows(db, "SELECT status, error FROM submissions WHERE id = :s", s=sid)
        if row["status"] in ("decided", "failed") or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def _stuck_copy(db: str, sid: str) -> str:
    """A second submission of the same image, left 'processing' an hour ago with its message
    lost (as when a worker died and the broker lost the message)."""
    stuck = str(uuid.uuid4())
    from sqlalchemy import create_engine, text

    from moderation.storage.db import normalize_url

    engine = create_engine(normalize_url(db))
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO submissions (id, tenant_id, image_sha256, policy_version, status, "
                "attempts, enqueue_count, created_at, updated_at) SELECT :new, tenant_id, "
                "image_sha256, policy_version, 'processing', 1, 1, now() - interval '1 hour', "
                "now() - interval '1 hour' FROM submissions WHERE id = :old"
            ),
            {"new": stuck, "old": sid},
        )
    engine.dispose()
    return stuck


def test_periodic_sweep_requeues_stuck_submissions(
    worker: WorkerProcess, api: ApiServer, keys: Keys, db: str
) -> None:
    from workers.app import app

    sid = _submit(api, keys.a, seed=306)
    stuck = _stuck_copy(db, sid)
    app.send_task("maintenance.sweep", queue="maintenance")
    assert _wait_final(db, stuck)["status"] == "decided"
    assert _decisions(db, stuck) == (1, 1)
    events = rows(db, "SELECT event FROM audit_events WHERE subject_id = :s", s=stuck)
    assert {"event": "submission.requeued"} in events


def test_missing_blob_fails_only_its_submission(
    worker: WorkerProcess, api: ApiServer, keys: Keys, db: str, tmp_path: Path
) -> None:

    sid, _ = accept_without_sending(db, tmp_path, seed=303)  # a store the worker can't see
    row = _wait_final(db, sid)
    assert row["status"] == "failed"
    assert "image could not be loaded" in str(row["error"])
    assert _decisions(db, sid) == (0, 0)
    later = _submit(api, keys.a, seed=305)
    with api.client(keys.a) as client:
        assert wait_for_status(client, later, ("decided", "failed"))["status"] == "decided"
    assert worker.alive()


def test_refused_uploads_never_reach_the_worker(
    worker: WorkerProcess, api: ApiServer, keys: Keys
) -> None:
    before = _moderated(worker)
    with api.client(keys.a) as client:
        for bad in (b"", b"text", images.truncated_jpeg(), images.png_bomb()):
            response = client.post("/v1/moderations", files={"image": ("x.jpg", bad, "image/jpeg")})
            assert response.status_code in (413, 415, 422)
        sid = _submit(api, keys.a, seed=304)
        wait_for_status(client, sid, ("decided",))
    assert _moderated(worker) == before + 1
    assert worker.alive()
