"""Fault benchmark: kill -9 the inference worker N times, wipe the broker, stop the database,
all under a steady upload load, on embedded services and a tiny checkpoint; prints a table of
accepted / decided / lost / duplicated, the uploads not accepted by status and error code, the
peak depth of the inference queue and the recovery time after each fault kind. Exits non-zero
when an accepted submission is lost or decided twice, or an upload is refused other than with
a 503 that asks to retry later (backpressure; the database down).

    .venv/bin/python -m bench.faults --kill-cycles 100

A second table: several tenants uploading through several API processes (each running its
outbox relay) while workers are killed; for every submission, the webhook the platform heard
last must match the decision stored, and no upload may be refused for a deadlock.

Recovery time: from the end of the fault (the last kill, Redis back, Postgres back) until every
submission accepted so far is decided and its ``moderation.decided`` webhook delivered.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import machine, markdown_table
from moderation.outbox.queues import INFERENCE_QUEUE
from moderation.submissions.backlog import QueueDepth
from tests.support.fault_runs import (
    Stack,
    SteadyLoad,
    breakdown,
    kill_cycles,
    stack_api,
    tally,
    unexpected,
)
from tests.support.processes import ApiServer, start_api_process, start_worker
from tests.support.receiver import Receiver, start_receiver
from tests.support.services import RestartablePostgres, RestartableRedis

ROOT = Path(__file__).resolve().parents[1]
ENV = {"MODERATION_STUCK_AFTER_S": "10"}  # a backlog behind a restarting worker is not stuck
# Uploads may be refused only with a 503 and a Retry-After: backpressure (the inference
# backlog over MODERATION_MAX_QUEUE_DEPTH) or, while Postgres is down, database_unavailable.
OVERLOADED = (503, "overloaded")
DATABASE_UNAVAILABLE = (503, "database_unavailable")
_PROBLEMS: list[str] = []  # faults whose outcome breaks a guarantee


@dataclass
class Run:
    """The load during one fault: what it met, when the fault ended, the deepest queue."""

    load: SteadyLoad
    ended: float
    peak_depth: int


def _under_load(api: ApiServer, key: str, broker: str, fault: Callable[[], None]) -> Run:
    """Run ``fault`` amid a steady upload load, reading the inference queue's depth."""
    depth, peak, stop = QueueDepth(broker, INFERENCE_QUEUE, max_age_s=0), [0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            peak[0] = max(peak[0], depth.current() or 0)

    sampler = threading.Thread(target=sample, name="queue-depth", daemon=True)
    sampler.start()
    try:
        with SteadyLoad(api, key, interval_s=0.5) as load:
            time.sleep(2)
            fault()
            ended = time.monotonic()
            time.sleep(2)
    finally:
        stop.set()
        sampler.join()
    return Run(load, ended, peak[0])


def _row(name: str, run: Run, receiver: Receiver, db: str, *allowed: tuple[int, str]) -> list[str]:
    """Wait for the outcome of ``run``'s submissions and describe it as a table row; problems
    (lost submissions, refusals of another kind) go to stderr and set the exit status."""
    result = tally(db, run.load.accepted, receiver, "/hooks", timeout=600)
    recovery_s = time.monotonic() - 0.5 - run.ended  # tally waits 0.5 s for late duplicates
    if result.lost:
        statuses = Counter(str(s) for s in result.problems["open"].values())
        print(f"{name}: not decided by status: {dict(statuses)}", file=sys.stderr)
        _PROBLEMS.append(name)
    if result.duplicated:
        _PROBLEMS.append(name)
    if odd := unexpected(run.load.refused, *allowed):
        print(f"{name}: UNEXPECTED refusals: {dict(odd)}", file=sys.stderr)
        _PROBLEMS.append(name)
    return [
        name,
        str(result.accepted),
        str(result.decided),
        str(result.lost),
        str(result.duplicated),
        str(result.delivered),
        breakdown(run.load.refused),
        str(run.peak_depth),
        f"{recovery_s:.1f}",
    ]


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


def _pause(postgres: RestartablePostgres, seconds: float) -> None:
    postgres.stop()
    time.sleep(seconds)
    postgres.start()


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
        killed = _under_load(
            api, key, stack.broker, lambda: kill_cycles(stack, model, base, cycles, **ENV)
        )
        with start_worker(base / "inference.log", model, stack_env=stack.env(**ENV)):
            name = f"worker kill -9 x{cycles}"
            table.append(_row(name, killed, receiver, stack.db, OVERLOADED))
            wiped = _under_load(api, key, stack.broker, redis.wipe_restart)
            name = "Redis killed, restarted empty"
            table.append(_row(name, wiped, receiver, stack.db, OVERLOADED))
            stopped = _under_load(api, key, stack.broker, lambda: _pause(postgres, outage_s))
            name = f"Postgres down {outage_s:g} s"
            table.append(_row(name, stopped, receiver, stack.db, OVERLOADED, DATABASE_UNAVAILABLE))
    return table


def _last_heard(receiver: Receiver, paths: list[str]) -> dict[str, tuple[str, str | None]]:
    """Per submission id, the type and action of the last webhook its platform received."""
    last: dict[str, tuple[str, str | None]] = {}
    for path in paths:
        for request in receiver.received(path):
            event = json.loads(request.body)
            decision = event["data"].get("decision") or {}
            last[str(event["data"]["id"])] = (event["type"], decision.get("action"))
    return last


def _multi_tenant_row(
    stack: Stack, receiver: Receiver, loads: list[tuple[SteadyLoad, str]], ended: float
) -> list[str]:
    """Outcome of a multi-tenant run: per-tenant tallies, then every submission's last
    webhook against its stored decision, and submissions failed although decided."""
    from tests.support.db import rows

    results = [tally(stack.db, load.accepted, receiver, path, timeout=600) for load, path in loads]
    recovery_s = time.monotonic() - 0.5 * len(loads) - ended
    ids = [sid for load, _ in loads for sid in load.accepted]
    stored = {
        str(r["id"]): (str(r["status"]), r["action"])
        for r in rows(
            stack.db,
            "SELECT s.id, s.status, d.action FROM submissions s "
            "LEFT JOIN decisions d ON d.submission_id = s.id WHERE s.id = ANY(CAST(:i AS uuid[]))",
            i=ids,
        )
    }
    heard = _last_heard(receiver, sorted({path for _, path in loads}))
    mismatched = [
        i for i in ids if heard.get(i) != ("moderation.decided", stored.get(i, ("", None))[1])
    ]
    failed_decided = sum(1 for status, action in stored.values() if status == "failed" and action)
    refused: Counter[Any] = Counter()
    for load, _ in loads:
        refused.update(load.refused)
    deadlocked = sum(n for r, n in refused.items() if (r.status, r.code) == DATABASE_UNAVAILABLE)
    lost, twice = sum(r.lost for r in results), sum(r.duplicated for r in results)
    if lost or twice or failed_decided or deadlocked or mismatched:
        _PROBLEMS.append("multi-tenant")
        print(f"multi-tenant: last webhook differs for {mismatched[:5]}", file=sys.stderr)
    return [
        str(len({path for _, path in loads})),
        str(len(ids)),
        str(sum(r.decided for r in results)),
        str(lost),
        str(twice),
        str(failed_decided),
        str(deadlocked),
        f"{len(ids) - len(mismatched)}/{len(ids)}",
        breakdown(refused),
        f"{recovery_s:.1f}",
    ]


def run_multi_tenant(cycles: int, tenants: int, api_processes: int) -> list[list[str]]:
    """``tenants`` tenants upload through ``api_processes`` API processes while the inference
    worker is killed ``cycles`` times; one table row."""
    from moderation.admin import create_tenant_key
    from moderation.inference.tiny import build_tiny

    base = Path(tempfile.mkdtemp(prefix="bench-faults-tenants-"))
    model = build_tiny("llava", base / "model")
    with ExitStack() as stack_of:
        stack, _, _ = stack_of.enter_context(_services(base))
        receiver = stack_of.enter_context(start_receiver())
        apis = [
            stack_of.enter_context(start_api_process(base / f"api-{n}.log", **stack.env(**ENV)))
            for n in range(api_processes)
        ]
        env = stack.env(**ENV)
        stack_of.enter_context(
            start_worker(base / "hooks.log", model, "webhooks,maintenance", True, env)
        )
        loads = []
        for t in range(tenants):
            key, path = create_tenant_key(stack.db, f"bench-tenant-{t}"), f"/hooks/{t}"
            with apis[0].client(key) as client:
                client.post(
                    "/v1/webhook-endpoints",
                    json={"url": receiver.route(path), "events": ["moderation.decided"]},
                ).raise_for_status()
            for n, api in enumerate(apis):
                loads.append(
                    (SteadyLoad(api, key, interval_s=0.25, seed=1000 * (t * 10 + n)), path)
                )
        for load, _ in loads:
            load.__enter__()
        try:
            time.sleep(2)
            kill_cycles(stack, model, base, cycles, **ENV)
            ended = time.monotonic()
            time.sleep(2)
        finally:
            for load, _ in loads:
                load.__exit__()
        with start_worker(base / "inference.log", model, stack_env=env):
            return [_multi_tenant_row(stack, receiver, loads, ended)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-cycles", type=int, default=100)
    parser.add_argument("--outage-s", type=float, default=5.0, help="how long Postgres is down")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--api-processes", type=int, default=2)
    parser.add_argument("--tenant-kill-cycles", type=int, default=10)
    args = parser.parse_args()
    rows = run(args.kill_cycles, args.outage_s)
    header = [
        "fault",
        "accepted",
        "decided",
        "lost",
        "duplicated",
        "one webhook each",
        "not accepted (status code: n)",
        "peak queue (messages)",
        "recovery s",
    ]
    print(markdown_table(header, rows))
    tenants_rows = run_multi_tenant(args.tenant_kill_cycles, args.tenants, args.api_processes)
    print(
        f"\n{args.tenants} tenants, {args.api_processes} API processes, worker kill -9 "
        f"x{args.tenant_kill_cycles}:\n"
    )
    tenants_header = [
        "tenants",
        "accepted",
        "decided",
        "lost",
        "decided twice",
        "failed but decided",
        "503 database_unavailable",
        "last webhook = stored decision",
        "not accepted (status code: n)",
        "recovery s",
    ]
    print(markdown_table(tenants_header, tenants_rows))
    print(f"\n{machine('cpu')}")
    if _PROBLEMS:
        sys.exit(f"guarantees broken under: {', '.join(dict.fromkeys(_PROBLEMS))}")


if __name__ == "__main__":
    main()
