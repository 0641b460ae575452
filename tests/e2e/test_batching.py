"""Dynamic batching in a real worker: messages are grouped, and a worker killed mid-batch loses
nothing: every submission of the batch is redelivered and decided exactly once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.conftest import Env
from tests.support.db import rows
from tests.support.intake import accept_many
from tests.support.processes import ApiServer, WorkerProcess, start_worker


def _queue(db: str, env: Env, seeds: range) -> list[str]:
    """A burst of uploads: stored in one commit, so the API's relay sends them together."""
    return [sid for sid, _ in accept_many(db, env.data_dir / "blobs", seeds, tenant="batching")]


def _states(db: str, ids: list[str]) -> list[dict[str, object]]:
    return rows(
        db,
        "SELECT s.id, s.status, s.attempts, (SELECT count(*) FROM decisions d "
        "WHERE d.submission_id = s.id) AS decisions FROM submissions s WHERE s.id = ANY(:ids)",
        ids=ids,
    )


def _wait_decided(db: str, ids: list[str], timeout: float = 90) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        states = _states(db, ids)
        if all(s["status"] == "decided" for s in states) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def test_burst_of_submissions_is_decided_in_batches(
    checkpoints: dict[str, Path], db: str, env: Env, api: ApiServer, tmp_path: Path
) -> None:
    batching = {
        "MODERATION_BATCH_SIZE": "8",
        "MODERATION_BATCH_WAIT_MS": "500",
    }  # margin under load
    with start_worker(tmp_path / "w.log", checkpoints["llava"], **batching) as worker:
        ids = _queue(db, env, range(500, 508))
        states = _wait_decided(db, ids)
        sizes = worker.batch_sizes()
    assert all(s["status"] == "decided" and s["decisions"] == 1 for s in states), states
    assert sum(sizes) == 8 and max(sizes) > 1, sizes


def _kill_mid_batch(worker: WorkerProcess) -> int:
    """SIGKILL the worker as soon as it starts a batch; returns that batch's size."""
    deadline = time.monotonic() + 60
    while not (found := worker.batch_sizes()):
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.02)
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait()
    return found[0]


def test_worker_killed_mid_batch_loses_nothing_and_decides_once(
    checkpoints: dict[str, Path], db: str, env: Env, api: ApiServer, tmp_path: Path
) -> None:
    short_visibility = {"MODERATION_VISIBILITY_TIMEOUT_S": "2", "MODERATION_BATCH_SIZE": "8"}
    model = checkpoints["llava_onevision"]
    with start_worker(tmp_path / "a.log", model, **short_visibility) as first:
        ids = _queue(db, env, range(600, 608))
        killed_batch = _kill_mid_batch(first)
    assert killed_batch > 1
    assert all(s["decisions"] == 0 for s in _states(db, ids)), "the kill came after the batch"
    with start_worker(tmp_path / "b.log", model, **short_visibility):
        states = _wait_decided(db, ids, timeout=120)
    assert all(s["status"] == "decided" and s["decisions"] == 1 for s in states), states
