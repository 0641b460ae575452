"""Back-pressure against the real Redis: per-key rate limits (429) and the inference backlog
(503 before anything is stored); both fail open when Redis is down."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis

from moderation.accounts import tenant_repository as tenants
from moderation.accounts.api_keys import issue_key
from moderation.accounts.keys import Scope
from moderation.admin import create_tenant_key
from moderation.config import Settings
from moderation.embedded import start_redis
from moderation.storage.db import session_scope
from moderation.storage.redis import redis_url
from moderation.submissions.backlog import queue_keys
from tests.conftest import Env
from tests.support import images
from tests.support.db import count
from tests.support.processes import free_port, start_api

STORED = ("submissions", "images", "outbox", "audit_events")


def _read(client: httpx.Client) -> httpx.Response:
    """A request that passes auth and the limiter, then finds nothing (404)."""
    return client.get(f"/v1/moderations/{uuid.uuid4()}")


def _submit(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/moderations", files={"image": ("a.png", images.png(), "image/png")})


def _reader_key(db: str, tenant: str) -> str:
    """A key of ``tenant`` holding only ``moderations:read``."""
    with session_scope(db) as session:
        found = tenants.get_by_name(session, tenant)
        assert found is not None
        return issue_key(session, found.id, [Scope.MODERATIONS_READ]).plaintext


def _retry_after(response: httpx.Response, status: int, code: str) -> int:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    return int(response.headers["retry-after"])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis of this test alone (its queue contents are the test's), as a broker URL."""
    with ExitStack() as stack:
        url, _ = start_redis(tmp_path / "redis", stack)
        yield url


def test_over_the_rate_limit_is_429_with_retry_after(db: str, env: Env) -> None:
    key, other = (create_tenant_key(db, f"rl-{uuid.uuid4().hex[:8]}") for _ in range(2))
    settings = Settings(rate_limit="3/minute", relay_in_api=False)
    with start_api(settings) as api, api.client(key) as client:
        assert [_read(client).status_code for _ in range(3)] == [404, 404, 404]
        wait = _retry_after(_read(client), 429, "rate_limited")
        assert 1 <= wait <= 60
        assert "3 per 1 minute" in _read(client).json()["error"]["message"]
        with api.client(other) as second:  # the limit is per key
            assert _read(second).status_code == 404
    stored = redis.Redis.from_url(redis_url(env.broker_url)).keys("LIMITS:*")
    assert stored, "the limiter keeps its windows in the broker's Redis"


def test_the_rate_limit_fails_open_when_redis_is_down(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    key = create_tenant_key(db, f"rl-down-{uuid.uuid4().hex[:8]}")
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = Settings(broker_url=dead, rate_limit="1/minute", relay_in_api=False)
    with caplog.at_level(logging.WARNING), start_api(settings) as api:
        with api.client(key) as client:
            assert [_read(client).status_code for _ in range(3)] == [404, 404, 404]
        with api.client() as client:
            assert client.get("/healthz").json()["inference_queue"]["depth"] is None
    assert "rate limiter unavailable, allowing requests" in caplog.text


def test_an_empty_rate_limit_disables_limiting(db: str) -> None:
    key = create_tenant_key(db, f"rl-off-{uuid.uuid4().hex[:8]}")
    with start_api(Settings(rate_limit="", relay_in_api=False)) as api, api.client(key) as c:
        assert {_read(c).status_code for _ in range(60)} == {404}


def test_a_deep_inference_queue_is_503_before_anything_is_stored(
    make_db: Callable[[], str], own_redis: str, tmp_path: Path
) -> None:
    db = make_db()  # its own tables, so "nothing stored" is exact
    key = create_tenant_key(db, "backlog")
    broker = redis.Redis.from_url(redis_url(own_redis))
    plain, high = queue_keys("inference")[:2]
    broker.rpush(plain, "m1", "m2")
    broker.rpush(high, "m3")  # a priority-suffixed list counts too
    settings = Settings(
        database_url=db,
        broker_url=own_redis,
        max_queue_depth=2,
        relay_in_api=False,
        data_dir=tmp_path / "data",
    )
    before = {t: count(db, t) for t in STORED}  # the policy sync audited itself
    assert before["submissions"] == before["images"] == before["outbox"] == 0
    with start_api(settings) as api, api.client(key) as client:
        assert _retry_after(_submit(client), 503, "overloaded") >= 1
        with api.client(_reader_key(db, "backlog")) as reader:
            assert _submit(reader).status_code == 403  # a key that may not upload learns that
        assert {t: count(db, t) for t in STORED} == before
        assert [p for p in (tmp_path / "data").rglob("*") if p.is_file()] == []  # no blob
        health = client.get("/healthz").json()["inference_queue"]
        assert health == {"depth": 3, "max_depth": 2}
        assert _read(client).status_code == 404  # reads are not held back
        broker.lpop(plain)
        time.sleep(1.1)  # the depth is read at most once a second
        assert _submit(client).status_code == 202
        assert count(db, "submissions") == 1


def test_the_backlog_check_fails_open_when_redis_is_down(
    make_db: Callable[[], str], tmp_path: Path
) -> None:
    db = make_db()
    key = create_tenant_key(db, "backlog-down")
    settings = Settings(
        database_url=db,
        broker_url=f"redis://127.0.0.1:{free_port()}/0",
        max_queue_depth=1,
        relay_in_api=False,
        data_dir=tmp_path / "data",
    )
    with start_api(settings) as api, api.client(key) as client:
        assert _submit(client).status_code == 202  # accepted: the outbox keeps it
    assert count(db, "outbox") == 1
