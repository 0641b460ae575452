"""Shared by the fault suite and ``bench/faults.py``: an isolated service stack with fast
recovery settings, a steady upload load, worker kill cycles and the tally of what happened."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from tests.support import images
from tests.support.db import rows
from tests.support.processes import ApiServer, WorkerProcess, start_api
from tests.support.receiver import Receiver

# Recovery in seconds, not minutes: the sweep runs every second and re-queues work idle for 3 s.
FAST_RECOVERY = {
    "MODERATION_STUCK_AFTER_S": "3",
    "MODERATION_SWEEP_INTERVAL_S": "1",
    "MODERATION_VISIBILITY_TIMEOUT_S": "2",
    "MODERATION_MAX_ATTEMPTS": "50",  # kills count as attempts: the cap is tested elsewhere
    "MODERATION_WEBHOOK_SWEEP_GRACE_S": "2",
    "MODERATION_WEBHOOK_RETRY_BASE_S": "0.5",
    "MODERATION_ALLOW_PRIVATE_URLS": "true",  # the webhook receiver is on loopback
    "MODERATION_RATE_LIMIT": "",
}


@dataclass(frozen=True)
class Stack:
    """Where an isolated service stack keeps its state."""

    db: str
    broker: str
    data_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a worker of this stack."""
        return {
            **FAST_RECOVERY,
            "MODERATION_DATABASE_URL": self.db,
            "MODERATION_BROKER_URL": self.broker,
            "MODERATION_DATA_DIR": str(self.data_dir),
            **extra,
        }

    def settings(self, **overrides: Any) -> Any:
        """API settings for this stack: the same values as its workers' environment."""
        from moderation.config import Settings

        values = {k.removeprefix("MODERATION_").lower(): v for k, v in self.env().items()}
        return Settings(**{**values, **overrides})


def new_tenant_key(db: str) -> str:
    """A fresh tenant and its API key."""
    from moderation.admin import create_tenant_key

    return create_tenant_key(db, f"faults-{uuid.uuid4().hex[:8]}")


def outcomes(db: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per submission: status, error, decision rows and ``moderation.decided`` messages."""
    found = rows(
        db,
        "SELECT s.id::text AS id, s.status, s.error, "
        "(SELECT count(*) FROM decisions d WHERE d.submission_id = s.id) AS decisions "
        "FROM submissions s WHERE s.id = ANY(CAST(:ids AS uuid[]))",
        ids=ids,
    )
    return {str(r["id"]): r for r in found}


def wait_final(db: str, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    """Poll until every submission is decided or failed (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    while True:
        states = outcomes(db, ids)
        done = all(s["status"] in ("decided", "failed") for s in states.values())
        if (done and len(states) == len(ids)) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


@contextmanager
def stack_api(stack: Stack) -> Iterator[ApiServer]:
    """The API of ``stack``, its outbox relay publishing to the stack's broker."""
    from moderation.outbox.broker import create_celery, publisher

    with start_api(stack.settings(), publish=publisher(create_celery(stack.broker))) as api:
        yield api


class Refusal(NamedTuple):
    """Why an upload was not accepted: the HTTP status (0 for a transport error), the error
    code of the body (or the exception's class) and the ``Retry-After`` header, if any."""

    status: int
    code: str
    retry_after: str | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}"

    @classmethod
    def of(cls, response: httpx.Response) -> Refusal:
        """The refusal a non-202 answer stands for."""
        try:
            code = str(response.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            code = "?"
        return cls(response.status_code, code, response.headers.get("retry-after"))


def breakdown(refused: Counter[Refusal]) -> str:
    """Refusals by status and error code, most frequent first: '503 overloaded: 290, ...'."""
    by_kind = Counter[str]()
    for refusal, count in refused.items():
        by_kind[str(refusal)] += count
    return ", ".join(f"{kind}: {count}" for kind, count in by_kind.most_common()) or "0"


def unexpected(refused: Counter[Refusal], *allowed: tuple[int, str]) -> Counter[Refusal]:
    """The refusals not of an ``allowed`` (status, code) or without a ``Retry-After``: a
    client could not tell that it should retry those later."""
    return Counter(
        {
            r: n
            for r, n in refused.items()
            if (r.status, r.code) not in allowed or r.retry_after is None
        }
    )


class SteadyLoad:
    """A thread that uploads one small PNG every ``interval_s`` and keeps the accepted ids
    and, per kind, the refused uploads (a client would retry those: they are not accepted)."""

    def __init__(self, api: ApiServer, key: str, interval_s: float = 0.2, seed: int = 0) -> None:
        self.api, self.key, self.interval_s, self._seed = api, key, interval_s, seed
        self.accepted: list[str] = []
        self.refused: Counter[Refusal] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with self.api.client(self.key) as client:
            while not self._stop.wait(self.interval_s):
                self._seed += 1
                data = images.png(24, 24, seed=self._seed)
                try:
                    response = client.post(
                        "/v1/moderations", files={"image": ("a.png", data, "image/png")}
                    )
                except httpx.TransportError as exc:  # not accepted: a client would retry
                    self.refused[Refusal(0, type(exc).__name__)] += 1
                    continue
                if response.status_code == 202:
                    self.accepted.append(str(response.json()["id"]))
                else:
                    self.refused[Refusal.of(response)] += 1


def _next_batch(worker: WorkerProcess, timeout: float = 60) -> None:
    """Block until the worker starts another batch (the model is then running)."""
    before = len(worker.batch_sizes())
    deadline = time.monotonic() + timeout
    while len(worker.batch_sizes()) == before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker started no batch:\n{worker.log()[-3000:]}")
        time.sleep(0.01)


def kill_cycles(stack: Stack, model: Path | str, logs: Path, cycles: int, **env: str) -> None:
    """Start a whole inference worker, SIGKILL it (all its processes) mid-batch; ``cycles``
    times. Each cycle pays a full start: imports, model load, broker connection."""
    full_env = {**os.environ, "MODERATION_MODEL": str(model), **stack.env(**env)}
    for cycle in range(cycles):
        worker = WorkerProcess(logs / f"inference-{cycle}.log", full_env, "inference")
        worker.wait_for_log(" ready.")
        _next_batch(worker)
        worker.stop(signal.SIGKILL)


@dataclass
class Tally:
    """What became of the accepted submissions."""

    accepted: int
    decided: int
    lost: int  # not decided (still open, or failed)
    duplicated: int  # more than one decision row or successful decided delivery
    delivered: int  # with exactly one moderation.decided webhook received
    problems: dict[str, Any] = field(default_factory=dict)


def decided_deliveries(receiver: Receiver, path: str) -> Counter[str]:
    """``moderation.decided`` webhooks received at ``path``, per moderation id."""
    found = (json.loads(r.body) for r in receiver.received(path))
    return Counter(str(e["data"]["id"]) for e in found if e["type"] == "moderation.decided")


def tally(db: str, ids: list[str], receiver: Receiver, path: str, timeout: float = 60) -> Tally:
    """Wait (up to ``timeout``) for every id to be decided and delivered once, then count."""
    deadline = time.monotonic() + timeout
    while True:
        states = wait_final(db, ids, max(0.0, deadline - time.monotonic()))
        delivered = decided_deliveries(receiver, path)
        if all(delivered[i] >= 1 for i in ids) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # a late duplicate delivery would land now
    delivered = decided_deliveries(receiver, path)
    decided = [i for i in ids if states.get(i, {}).get("status") == "decided"]
    dup = [i for i in ids if states.get(i, {}).get("decisions", 0) > 1 or delivered[i] > 1]
    open_ = {i: states.get(i, {}).get("status") for i in ids if i not in decided}
    undelivered = [i for i in decided if delivered[i] == 0]
    return Tally(
        accepted=len(ids),
        decided=len(decided),
        lost=len(open_),
        duplicated=len(dup),
        delivered=sum(1 for i in ids if delivered[i] == 1),
        problems={"open": open_, "duplicated": dup, "undelivered": undelivered},
    )
