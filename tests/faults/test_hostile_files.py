"""Hostile uploads against the real API process: each answered within 2 s with its status, the
API's memory stays bounded, the accepted odd ones are decided (one whose JPEG scan does not
decode is failed) and no worker dies; a worker
refuses (never unpickles) a pickle-serialised task message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Keys
from tests.support import hostile
from tests.support.db import rows
from tests.support.processes import ApiProcess, start_api_process, start_worker

LIMIT_BYTES = 10 * 1024 * 1024  # over the huge-EXIF file, under the suite's default
ROUNDS = 3  # the whole batch again: memory must not grow with each round
MAX_GROWTH_MB = 300  # generous: a leak of the 400 M-pixel bomb alone would be ~400 MB per round


@pytest.fixture(scope="module")
def api_process(db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    log = tmp_path_factory.mktemp("hostile-api") / "api.log"
    with start_api_process(
        log, MODERATION_MAX_IMAGE_BYTES=str(LIMIT_BYTES), MODERATION_RATE_LIMIT=""
    ) as server:
        yield server


def _post(api: ApiProcess, key: str, case: hostile.Hostile, data: bytes) -> tuple[int, float]:
    with api.client(key) as client:
        started = time.monotonic()
        response = client.post(
            "/v1/moderations", files={"image": (case.filename, data, case.content_type)}
        )
        elapsed = time.monotonic() - started
    if response.status_code != 202:
        assert "error" in response.json(), response.text
    return response.status_code, elapsed


def _batch() -> list[tuple[hostile.Hostile, bytes]]:
    over = hostile.Hostile("size limit + 1", lambda: hostile.over_the_limit(LIMIT_BYTES), 413)
    return [(case, case.make()) for case in (*hostile.CASES, over)]


def test_hostile_files_get_their_status_fast_with_bounded_memory(
    api_process: ApiProcess, keys: Keys
) -> None:
    batch = _batch()
    _post(api_process, keys.a, *batch[-1])  # warm the process up before measuring
    before = api_process.rss_mb()
    answers = {}
    for _ in range(ROUNDS):
        for case, data in batch:
            answers[case.name] = _post(api_process, keys.a, case, data)
    growth = api_process.rss_mb() - before
    wrong = {n: s for n, (s, _) in answers.items() if s != _expected(batch, n)}
    slow = {n: round(t, 2) for n, (_, t) in answers.items() if t > 2.0}
    assert not wrong, wrong
    assert not slow, slow
    assert growth < MAX_GROWTH_MB, f"API RSS grew by {growth:.0f} MiB"


def _expected(batch: list[tuple[hostile.Hostile, bytes]], name: str) -> int:
    return next(case.status for case, _ in batch if case.name == name)


class _Tripwire:
    """Unpickling this creates ``path``: proof that a pickle payload was executed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return Path.touch, (self.path,)


def test_accepted_odd_images_are_decided_and_a_pickle_message_is_refused(
    api_process: ApiProcess, keys: Keys, db: str, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    from moderation.outbox.queues import INFERENCE_QUEUE
    from workers.app import app

    accepted = [c for c in hostile.CASES if c.status == 202]
    ids = []
    tripwire = tmp_path / "pickle-executed"
    with start_worker(tmp_path / "worker.log", checkpoints["llava"]) as worker:
        assert app.conf.accept_content == ["json"]
        app.send_task(
            "inference.moderate",
            kwargs={"submission_id": _Tripwire(tripwire)},
            queue=INFERENCE_QUEUE,
            serializer="pickle",
        )
        worker.wait_for_log("Refusing to deserialize untrusted content of type pickle", 30)
        with api_process.client(keys.b) as client:
            for case in accepted:
                response = client.post(
                    "/v1/moderations", files={"image": (case.filename, case.make(), "image/png")}
                )
                assert response.status_code == 202, (case.name, response.text)
                ids.append(response.json()["id"])
        states = {str(s["id"]): s for s in _wait_final(db, ids)}
        assert worker.alive()
    assert not tripwire.exists()
    ended = {case.name: states[sid]["status"] for case, sid in zip(accepted, ids, strict=True)}
    assert ended == {case.name: case.final for case in accepted}, states
    broken = [
        states[sid] for case, sid in zip(accepted, ids, strict=True) if case.final != "decided"
    ]
    assert all("image could not be loaded" in str(s["error"]) for s in broken), broken


def _wait_final(db: str, ids: list[str], timeout: float = 90) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        states = rows(db, "SELECT id, status, error FROM submissions WHERE id = ANY(:i)", i=ids)
        if all(s["status"] in ("decided", "failed") for s in states):
            return states
        if time.monotonic() > deadline:
            return states
        time.sleep(0.2)
