"""Fault benchmark: kill -9 the inference worker N times, wipe the broker, stop the database,
all under a steady upload load, on embedded services and a tiny checkpoint; prints a table of
accepted / decided / lost / duplicated and the recovery time after each fault kind.

    .venv/bin/python -m bench.faults --kill-cycles 100

Recovery time: from the end of the fault (the last kill, Redis back, Postgres back) until every
submission accepted so far is decided and its ``moderation.decided`` webhook delivered.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.common import machine, markdown_table
from tests.support.fault_runs import Stack, SteadyLoad, Tally, kill_cycles, stack_api, tally
from tests.support.processes import ApiServer, start_worker
from tests.support.receiver import Receiver, start_receiver
from tests.support.services import RestartablePostgres, RestartableRedis

ROOT = Path(__file__).resolve().parents[1]
ENV = {"MODERATION_STUCK_AFTER_S": "10"}  # a backlog behind a restarting worker is not stuck


def _measure(
    api: ApiServer, key: str, receiver: Receiver, db: str, fault: Callable[[], None]
) -> tuple[Tally, float, int]:
    """Run ``fault`` under load; (tally, recovery seconds, uploads refused)."""
    with SteadyLoad(api, key, interval_s=0.5) as load:
        time.sleep(2)
        fault()
        ended = time.monotonic()
        time.sleep(2)
    result = tally(db, load.accepted, receiver, "/hooks", timeout=600)
    return result, time.monotonic() - 0.5 - ended, sum(load.refused.values())


@contextmanager
def _services(base: Path) -> Iterator[tuple[Stack, RestartablePostgres, RestartableRedis]]:
    from moderation.admin import migrate, sync_policy_files

    with ExitStack() as stack:
        postgres = RestartablePostgres(base / "pg", stack)
        redis = RestartableRedis(stack)
        migrate(postgres.server_url)
        sync_policy_files(postgres.server_url, ROOT / "policies")
        (base / "data").mkdir()
        os.environ.setdefault("MODERATION_POLICIES_DIR", str(ROOT / "policies"))
        yield Stack(postgres.server_url, redis.url, base / "data"), postgres, redis


def _pause(stop: Callable[[], None], start: Callable[[], None], seconds: float) -> None:
    stop()
    time.sleep(seconds)
    start()


def run(cycles: int, outage_s: float) -> list[list[str]]:
    """Run the three faults; the table's rows."""
    from moderation.admin import create_tenant_key
    from moderation.inference.tiny import build_tiny

    base = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    model = build_tiny("llava", base / "model")
    table = []
    with (
        _services(base) as (stack, postgres, redis),
        start_receiver() as receiver,
        stack_api(stack) as api,
        start_worker(base / "hooks.log", model, "webhooks,maintenance", True, stack.env(**ENV)),
    ):
        key = create_tenant_key(stack.db, "bench-faults")
        with api.client(key) as client:
            client.post(
                "/v1/webhook-endpoints",
                json={"url": receiver.route("/hooks"), "events": ["moderation.decided"]},
            ).raise_for_status()
        kills = lambda: kill_cycles(stack, model, base, cycles, **ENV)  # noqa: E731
        table.append(
            _row(f"worker kill -9 x{cycles}", *_measure(api, key, receiver, stack.db, kills))
        )
        with start_worker(base / "inference.log", model, stack_env=stack.env(**ENV)):
            for name, fault in (
                ("Redis killed, restarted empty", redis.wipe_restart),
                (
                    f"Postgres stopped {outage_s:g} s",
                    lambda: _pause(postgres.stop, postgres.start, outage_s),
                ),
            ):
                table.append(_row(name, *_measure(api, key, receiver, stack.db, fault)))
    return table


def _row(name: str, result: Tally, recovery_s: float, refused: int) -> list[str]:
    return [
        name,
        str(result.accepted),
        str(result.decided),
        str(result.lost),
        str(result.duplicated),
        str(result.delivered),
        str(refused),
        f"{recovery_s:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-cycles", type=int, default=100)
    parser.add_argument("--outage-s", type=float, default=5.0, help="how long Postgres is down")
    args = parser.parse_args()
    rows = run(args.kill_cycles, args.outage_s)
    header = [
        "fault",
        "accepted",
        "decided",
        "lost",
        "duplicated",
        "one webhook each",
        "refused (503)",
        "recovery s",
    ]
    print(markdown_table(header, rows))
    print(f"\n{machine('cpu')}")


if __name__ == "__main__":
    main()
