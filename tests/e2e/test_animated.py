"""An animated GIF through the real services: upload → Postgres → Celery → a worker with a
tiny LLaVA → several frames judged → the decision, frames listed, in the API answer; hostile
animations refused at upload within 2 s."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Keys
from tests.e2e.checks import assert_matches_database, assert_valid_decision
from tests.support import hostile, images
from tests.support.processes import ApiServer, WorkerProcess, start_worker, wait_for_status


@pytest.fixture(scope="module")
def worker(
    checkpoints: dict[str, Path], db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    log = tmp_path_factory.mktemp("worker-animated") / "worker.log"
    with start_worker(log, checkpoints["llava"]) as process:
        yield process


def test_an_uploaded_gif_has_several_frames_judged_and_the_worst_decides(
    worker: WorkerProcess, api: ApiServer, keys: Keys, db: str
) -> None:
    data = images.animation(64, 48, seed=51, frames=7)
    with api.client(keys.a) as client:
        created = client.post("/v1/moderations", files={"image": ("a.gif", data, "image/gif")})
        assert created.status_code == 202, created.text
        assert created.json()["image"]["format"] == "GIF"
        body = wait_for_status(client, created.json()["id"], ("decided", "failed"), timeout=60)
    assert body["status"] == "decided", body
    assert_valid_decision(body)
    assert_matches_database(db, body)
    decision = body["decision"]
    frames = decision["frames"]
    assert len(frames) >= 3 and (frames[0]["index"], frames[0]["offset_ms"]) == (0, 0)
    worst = max(frames, key=lambda f: f["unsafe"])
    assert decision["scores"]["unsafe"] == worst["unsafe"]
    assert decision["rating"] == worst["rating"] and decision["category"] == worst["category"]
    assert worker.alive()


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (hostile.many_frame_gif, "more than 1000 frames"),
        (hostile.gif_over_pixel_cap, "MODERATION_MAX_ANIMATION_PIXELS"),
    ],
    ids=["10000-frames", "pixel-cap"],
)
def test_hostile_animations_are_refused_within_2_s(
    api: ApiServer, keys: Keys, make: Callable[[], bytes], words: str
) -> None:
    data = make()
    with api.client(keys.a) as client:
        started = time.monotonic()
        answer = client.post("/v1/moderations", files={"image": ("h.gif", data, "image/gif")})
        elapsed = time.monotonic() - started
    assert answer.status_code == 413, answer.text
    error = answer.json()["error"]
    assert error["code"] == "payload_too_large" and words in error["message"]
    assert elapsed < 2.0
