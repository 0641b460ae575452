"""Redis killed and restarted empty under a steady upload load: queued messages, unacked
deliveries and the beat's schedule in flight are gone, yet every accepted submission is
decided exactly once with one webhook (Postgres is the record; the sweep re-enqueues)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.fault_runs import Stack, SteadyLoad, new_tenant_key, stack_api, tally
from tests.support.processes import start_worker
from tests.support.receiver import start_receiver
from tests.support.services import RestartableRedis
from tests.webhooks.conftest import create_endpoint


def test_broker_wiped_under_load_loses_nothing(
    stack: Stack, redis: RestartableRedis, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    model = checkpoints["llava"]
    key = new_tenant_key(stack.db)
    with (
        start_receiver() as receiver,
        stack_api(stack) as api,
        start_worker(tmp_path / "hooks.log", model, "webhooks,maintenance", True, stack.env()),
        start_worker(tmp_path / "inference.log", model, stack_env=stack.env()) as inference,
    ):
        with api.client(key) as client:
            create_endpoint(client, receiver.route("/hooks"), "moderation.decided")
        with SteadyLoad(api, key, interval_s=0.5) as load:
            time.sleep(4)
            redis.wipe_restart()
            time.sleep(4)
        result = tally(stack.db, load.accepted, receiver, "/hooks", timeout=90)
        assert inference.alive()
    assert result.accepted >= 10 and not load.refused, (result, load.refused)
    assert (result.lost, result.duplicated) == (0, 0), result
    assert result.decided == result.delivered == result.accepted, result
