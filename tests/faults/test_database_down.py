"""Postgres stopped under a running API and worker: uploads answer 503 ``database_unavailable``
and store nothing; when it returns, the API (first request included) and the worker recover by
themselves, and the work the worker could not record is decided by the sweep."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from moderation.storage.db import normalize_url
from tests.support import images
from tests.support.db import count
from tests.support.fault_runs import Stack, new_tenant_key, stack_api, wait_final
from tests.support.intake import accept_many
from tests.support.processes import ApiServer, start_worker
from tests.support.services import RestartablePostgres, RestartableRedis


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[RestartablePostgres]:
    with ExitStack() as stack:
        yield RestartablePostgres(tmp_path / "pg", stack)


@pytest.fixture
def stack(postgres: RestartablePostgres, redis: RestartableRedis, stack_dir: Path) -> Stack:
    """The stack on the dedicated Postgres (this test stops it)."""
    from moderation.admin import migrate, sync_policy_files
    from tests.conftest import ROOT

    migrate(postgres.server_url)
    sync_policy_files(postgres.server_url, ROOT / "policies")
    return Stack(postgres.server_url, redis.url, stack_dir)


def _upload(api: ApiServer, key: str, seed: int) -> tuple[int, dict[str, object], str | None]:
    with api.client(key) as client:
        response = client.post(
            "/v1/moderations", files={"image": ("a.png", images.png(seed=seed), "image/png")}
        )
    return response.status_code, response.json(), response.headers.get("retry-after")


def _mark_sent(db: str) -> None:
    """As if the relay had published every pending message (which the broker then lost)."""
    engine = create_engine(normalize_url(db))
    with engine.begin() as conn:
        conn.execute(text("UPDATE outbox SET sent_at = now() WHERE sent_at IS NULL"))
    engine.dispose()


def test_database_down_is_503_and_everything_recovers_by_itself(
    postgres: RestartablePostgres, stack: Stack, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    from moderation.outbox.broker import create_celery, publisher

    key = new_tenant_key(stack.db)
    publish = publisher(create_celery(stack.broker))
    waiting = [sid for sid, _ in accept_many(stack.db, stack.data_dir / "blobs", range(900, 903))]
    _mark_sent(stack.db)
    env = stack.env()
    with (
        stack_api(stack) as api,
        start_worker(
            tmp_path / "w.log",
            checkpoints["llava"],
            "inference,maintenance",
            beat=True,
            stack_env=env,
        ) as worker,
    ):
        assert _upload(api, key, seed=1)[0] == 202  # the pool holds live connections now
        postgres.stop()
        for sid in waiting:  # the worker takes them while the database is away
            publish("inference.moderate", "inference", {"submission_id": sid})
        for seed in (2, 3):
            status, body, retry_after = _upload(api, key, seed)
            assert status == 503, body
            assert body["error"]["code"] == "database_unavailable"  # type: ignore[index]
            assert retry_after is not None and int(retry_after) > 0
        worker.wait_for_log("OperationalError", timeout=30)
        postgres.start()
        started = time.monotonic()
        assert _upload(api, key, seed=4)[0] == 202  # the first request after the restart
        api_recovery = time.monotonic() - started
        states = wait_final(stack.db, waiting, timeout=60)
        postgres.stop()  # a quick restart with no request in between: the pooled
        postgres.start()  # connections are dead, yet the next request must not fail
        assert _upload(api, key, seed=5)[0] == 202
        assert worker.alive()
    assert api_recovery < 2
    assert all(s["status"] == "decided" and s["decisions"] == 1 for s in states.values()), states
    assert count(stack.db, "submissions") == len(waiting) + 3  # the 503s stored nothing
