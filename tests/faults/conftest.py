"""Fault tests run on their own database, broker and data directory, with fast recovery
settings, so stopping or wiping a service never touches the suite's shared ones."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.db import rows
from tests.support.processes import ApiServer, start_api
from tests.support.services import RestartableRedis

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


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory (blobs, beat schedule) of this test's own."""
    path = tmp_path / "data"
    path.mkdir()
    yield path


@pytest.fixture
def redis() -> Iterator[RestartableRedis]:
    """A broker of this test's own (it may be wiped)."""
    with ExitStack() as stack:
        yield RestartableRedis(stack)


@pytest.fixture
def stack(make_db: Callable[[], str], redis: RestartableRedis, stack_dir: Path) -> Stack:
    """A fresh database on the suite's server, this test's broker and data directory."""
    return Stack(make_db(), redis.url, stack_dir)


@contextmanager
def stack_api(stack: Stack) -> Iterator[ApiServer]:
    """The API of ``stack``, its outbox relay publishing to the stack's broker."""
    from workers.app import create_celery, publisher

    with start_api(stack.settings(), publish=publisher(create_celery(stack.broker))) as api:
        yield api
