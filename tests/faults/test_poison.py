"""A poison submission (inference raises on every attempt) ends ``failed`` with its error after
the attempt cap and emits ``moderation.failed``; the submissions around it keep flowing. One
that kills the worker process on every attempt fails at the cap too, and its batch-mates are
decided: after a crash they run one at a time, so only the poison one pays attempts.

The failures are injected with the documented ``MODERATION_CHAOS_FAIL_IMAGE_SIZE`` and
``MODERATION_CHAOS_KILL_IMAGE_SIZE`` settings: the shipped engines accept every image intake
lets through, so no real file makes them raise or crash."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from moderation.outbox.relay import relay_outbox
from tests.support import images
from tests.support.db import rows
from tests.support.fault_runs import Stack, new_tenant_key, outcomes, stack_api, wait_final
from tests.support.intake import accept_many
from tests.support.processes import WorkerProcess, start_worker
from tests.support.receiver import start_receiver
from tests.webhooks.conftest import create_endpoint

POISON_SIZE = (7, 13)


def test_poison_fails_after_the_cap_with_its_error_and_the_queue_flows(
    stack: Stack, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    env = stack.env(
        MODERATION_MAX_ATTEMPTS="3",
        MODERATION_CHAOS_FAIL_IMAGE_SIZE="x".join(map(str, POISON_SIZE)),
    )
    key = new_tenant_key(stack.db)
    with (
        start_receiver() as receiver,
        stack_api(stack) as api,
        api.client(key) as client,
        start_worker(tmp_path / "w.log", checkpoints["llava"], "inference,webhooks", stack_env=env),
    ):
        create_endpoint(
            client, receiver.route("/events"), "moderation.decided", "moderation.failed"
        )

        def submit(data: bytes) -> str:
            response = client.post("/v1/moderations", files={"image": ("a.png", data, "image/png")})
            assert response.status_code == 202, response.text
            return str(response.json()["id"])

        poison = submit(images.png(*POISON_SIZE, seed=1))
        good = [submit(images.png(seed=seed)) for seed in (2, 3)]
        states = wait_final(stack.db, [poison, *good], timeout=60)
        later = submit(images.png(seed=4))  # after the poison failed: still flowing
        states.update(wait_final(stack.db, [later], timeout=30))
        events = [json.loads(r.body) for r in receiver.wait_for("/events", 4, timeout=30)]
    assert states[poison]["status"] == "failed" and states[poison]["decisions"] == 0
    error = str(states[poison]["error"])
    assert "model failed 3 times" in error and "injected inference fault" in error, error
    assert all(states[sid]["status"] == "decided" for sid in (*good, later)), states
    failed = [e for e in events if e["type"] == "moderation.failed"]
    assert [e["data"]["id"] for e in failed] == [poison]
    assert sorted(e["data"]["id"] for e in events if e["type"] == "moderation.decided") == sorted(
        [*good, later]
    )


def _run_until_final(
    stack: Stack, ids: list[str], model: Path, logs: Path, **env: str
) -> tuple[dict[str, dict[str, object]], int]:
    """Run a worker, start another whenever it dies, until every submission is final; the
    final states and how many workers died."""
    full_env = {**os.environ, "MODERATION_MODEL": str(model), **stack.env(**env)}
    deaths = 0
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        worker = WorkerProcess(logs / f"worker-{deaths}.log", full_env, "inference")
        try:
            while worker.alive() and time.monotonic() < deadline:
                states = outcomes(stack.db, ids)
                if all(s["status"] in ("decided", "failed") for s in states.values()):
                    return states, deaths
                time.sleep(0.2)
        finally:
            worker.stop()
        deaths += 1
    raise TimeoutError(f"not final after {deaths} worker deaths: {outcomes(stack.db, ids)}")


def test_an_image_that_kills_the_worker_fails_alone_and_its_batch_mates_are_decided(
    stack: Stack, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    poison_seed = 900
    stored = accept_many(
        stack.db, stack.data_dir / "blobs", range(900, 906), sizes={poison_seed: POISON_SIZE}
    )
    ids = [sid for sid, _ in stored]
    poison, innocent = ids[0], ids[1:]
    from moderation.outbox.broker import create_celery, publisher

    publish = publisher(create_celery(stack.broker))
    assert relay_outbox(stack.db, publish, [outbox_id for _, outbox_id in stored]) == len(ids)
    states, deaths = _run_until_final(
        stack,
        ids,
        checkpoints["llava"],
        tmp_path,
        MODERATION_MAX_ATTEMPTS="2",
        MODERATION_BATCH_SIZE="8",
        MODERATION_BATCH_WAIT_MS="1000",
        MODERATION_CHAOS_KILL_IMAGE_SIZE="x".join(map(str, POISON_SIZE)),
    )
    assert deaths == 2, states  # the batch, then the poison one alone
    assert states[poison]["status"] == "failed", states
    assert "gave up after 2 attempts: the worker stopped" in str(states[poison]["error"])
    assert all(states[sid]["status"] == "decided" for sid in innocent), states
    assert all(states[sid]["decisions"] == 1 for sid in innocent), states
    attempts = rows(stack.db, "SELECT attempts FROM submissions WHERE id = ANY(:i)", i=innocent)
    assert all(r["attempts"] == 2 for r in attempts), attempts  # the dead batch, then alone
