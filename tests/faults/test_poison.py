"""A poison submission (inference raises on every attempt) ends ``failed`` with its error after
the attempt cap and emits ``moderation.failed``; the submissions around it keep flowing.

The failure is injected with the documented ``MODERATION_CHAOS_FAIL_IMAGE_SIZE`` setting: the
shipped engines accept every image intake lets through, so no real file makes them raise."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import images
from tests.support.fault_runs import Stack, new_tenant_key, stack_api, wait_final
from tests.support.processes import start_worker
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
