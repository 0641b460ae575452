"""The inference worker killed with SIGKILL mid-inference, again and again, while uploads
flow: every accepted submission ends decided exactly once, with one ``moderation.decided``
webhook delivered, none stuck (``bench/faults.py`` runs more cycles)."""

from __future__ import annotations

from pathlib import Path

from tests.support.fault_runs import (
    Stack,
    SteadyLoad,
    breakdown,
    kill_cycles,
    new_tenant_key,
    stack_api,
    tally,
)
from tests.support.processes import start_worker
from tests.support.receiver import start_receiver
from tests.webhooks.conftest import create_endpoint

CYCLES = 10
# killed messages come back by the broker's visibility timeout; the sweep is the backstop, and
# must not re-send a backlog that is merely waiting for the (restarting) worker
ENV = {"MODERATION_STUCK_AFTER_S": "60"}


def test_killed_workers_lose_nothing_and_decide_once(
    stack: Stack, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    model = checkpoints["llava"]
    key = new_tenant_key(stack.db)
    with (
        start_receiver() as receiver,
        stack_api(stack) as api,
        start_worker(tmp_path / "hooks.log", model, "webhooks,maintenance", True, stack.env(**ENV)),
    ):
        with api.client(key) as client:
            create_endpoint(client, receiver.route("/hooks"), "moderation.decided")
        with SteadyLoad(api, key, interval_s=2.0) as load:
            kill_cycles(stack, model, tmp_path, CYCLES, **ENV)
        with start_worker(tmp_path / "survivor.log", model, stack_env=stack.env(**ENV)):
            result = tally(stack.db, load.accepted, receiver, "/hooks", timeout=180)
    # the backlog stays far below MODERATION_MAX_QUEUE_DEPTH: no upload is even held back
    assert result.accepted >= CYCLES and not load.refused, (result, breakdown(load.refused))
    assert (result.lost, result.duplicated) == (0, 0), result
    assert result.decided == result.delivered == result.accepted, result
