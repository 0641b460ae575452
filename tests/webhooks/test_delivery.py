"""Delivery by a real ``webhooks`` worker process to a real receiver: signatures, retries with the
same webhook-id, 410 disables, other 4xx give up, duplicated tasks never POST twice."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from moderation.config import Settings
from moderation.outbox.relay import relay_outbox
from moderation.storage.db import session_scope
from moderation.submissions import repository as submissions
from moderation.submissions.types import Status
from moderation.webhooks.delivery import DeliveryContext, deliver_message_flow, retry_delay_s
from moderation.webhooks.events import MODERATION_FAILED, emit_events
from moderation.webhooks.secrets import SecretBox
from tests.conftest import Env
from tests.support.db import rows
from tests.support.intake import accept_without_sending
from tests.support.processes import ApiServer, WorkerProcess, start_api, start_worker
from tests.support.receiver import Receiver, Reply
from tests.webhooks.conftest import create_endpoint

RETRY_BASE_S = 0.3


@pytest.fixture(scope="module")
def db(make_db: Callable[[], str]) -> str:
    """A database of this module's own; only its webhook messages are relayed (by the tests)."""
    return make_db()


@pytest.fixture(scope="module")
def hooks_api(db: str) -> Iterator[ApiServer]:
    with start_api(Settings(database_url=db, allow_private_urls=True, relay_in_api=False)) as api:
        yield api


@pytest.fixture(scope="module")
def worker(
    db: str, checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    log = tmp_path_factory.mktemp("worker-webhooks") / "worker.log"
    with start_worker(
        log,
        checkpoints["llava"],  # not loaded: the worker takes no inference tasks
        queues="webhooks",
        MODERATION_DATABASE_URL=db,
        MODERATION_ALLOW_PRIVATE_URLS="true",
        MODERATION_WEBHOOK_RETRY_BASE_S=str(RETRY_BASE_S),
        MODERATION_WEBHOOK_MAX_ATTEMPTS="3",
    ) as process:
        yield process


@pytest.fixture
def tenant(db: str) -> tuple[str, str]:
    """A fresh tenant of this database: (name, API key)."""
    from moderation.admin import create_tenant_key

    name = f"delivery-{uuid.uuid4().hex[:8]}"
    return name, create_tenant_key(db, name)


def _publish(task: str, queue: str, kwargs: dict[str, Any], headers: object = None) -> None:
    from workers.app import publish

    publish(task, queue, kwargs)


def _fail_and_emit(env: Env, db: str, tenant_name: str, seed: int, relay: bool = True) -> str:
    """A submission that failed, its moderation.failed event emitted and (unless told not to)
    relayed to the worker."""
    sid, _ = accept_without_sending(db, env.data_dir / "blobs", seed=seed, tenant=tenant_name)
    with session_scope(db) as session:
        sub = submissions.lock(session, uuid.UUID(sid))
        assert sub is not None
        submissions.finish(session, sub.id, Status.FAILED, "the model is broken")
        emit_events(session, MODERATION_FAILED, [sub.id])
    if not relay:
        return sid
    pending = rows(db, "SELECT id FROM outbox WHERE task = 'webhooks.deliver' AND sent_at IS NULL")
    relay_outbox(db, _publish, [int(r["id"]) for r in pending])  # type: ignore[call-overload]
    return sid


def _deliveries(client: httpx.Client, endpoint_id: object, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        data: list[dict[str, Any]] = client.get(
            f"/v1/webhook-endpoints/{endpoint_id}/deliveries"
        ).json()["data"]
        if len(data) >= count or time.monotonic() > deadline:
            return data
        time.sleep(0.05)


def test_retries_after_500_keep_the_webhook_id_and_succeed_once(
    env: Env,
    db: str,
    hooks_api: ApiServer,
    worker: WorkerProcess,
    receiver: Receiver,
    tenant: tuple[str, str],
) -> None:
    url = receiver.route("/flaky", Reply(500, b"boom"), Reply(200))
    with hooks_api.client(tenant[1]) as client:
        endpoint = create_endpoint(client, url, "moderation.failed")
        sid = _fail_and_emit(env, db, tenant[0], seed=3001)
        first, second = receiver.wait_for("/flaky", 2)
        attempts = _deliveries(client, endpoint["id"], 2)
        moderation = client.get(f"/v1/moderations/{sid}").json()
    assert first.body == second.body
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    for request in (first, second):
        payload = Webhook(str(endpoint["secret"])).verify(request.body, request.headers)
        assert payload["type"] == "moderation.failed" and payload["data"] == moderation
    assert [(a["attempt"], a["succeeded"], a["status_code"]) for a in attempts] == [
        (2, True, 200),
        (1, False, 500),
    ]
    assert {a["webhook_id"] for a in attempts} == {first.headers["webhook-id"]}
    assert attempts[1]["next_attempt_at"] is not None and "HTTP 500" in attempts[1]["error"]
    assert all(a["message_status"] == "delivered" for a in attempts)


def test_a_duplicated_task_after_success_sends_nothing(
    env: Env,
    db: str,
    hooks_api: ApiServer,
    worker: WorkerProcess,
    receiver: Receiver,
    tenant: tuple[str, str],
) -> None:
    url = receiver.route("/once", Reply(200))
    with hooks_api.client(tenant[1]) as client:
        endpoint = create_endpoint(client, url, "moderation.failed")
        _fail_and_emit(env, db, tenant[0], seed=3002)
        (request,) = receiver.wait_for("/once", 1)
        message_id = str(uuid.UUID(request.headers["webhook-id"].removeprefix("msg_")))
        worker.wait_for_log(f"webhook message {message_id}: delivered")
        for _ in range(2):  # a redelivered and a duplicated message
            _publish("webhooks.deliver", "webhooks", {"message_id": message_id})
        worker.wait_for_log(f"webhook message {message_id}: skipped", count=2)
        attempts = _deliveries(client, endpoint["id"], 1)
    assert len(receiver.received("/once")) == 1
    assert [(a["attempt"], a["succeeded"]) for a in attempts] == [(1, True)]


def test_410_disables_the_endpoint(
    env: Env,
    db: str,
    hooks_api: ApiServer,
    worker: WorkerProcess,
    receiver: Receiver,
    tenant: tuple[str, str],
) -> None:
    url = receiver.route("/gone", Reply(410, b"gone"))
    with hooks_api.client(tenant[1]) as client:
        endpoint = create_endpoint(client, url, "moderation.failed")
        _fail_and_emit(env, db, tenant[0], seed=3003)
        receiver.wait_for("/gone", 1)
        (attempt,) = _deliveries(client, endpoint["id"], 1)
        (listed,) = client.get("/v1/webhook-endpoints").json()["data"]
        assert (attempt["status_code"], attempt["message_status"]) == (410, "failed")
        assert listed["enabled"] is False and "410" in listed["disabled_reason"]
        _fail_and_emit(env, db, tenant[0], seed=3004)  # a disabled endpoint gets no new events
        time.sleep(1)
        assert len(receiver.received("/gone")) == 1
        assert len(_deliveries(client, endpoint["id"], 1)) == 1


def test_a_4xx_other_than_410_and_429_is_not_retried(
    env: Env,
    db: str,
    hooks_api: ApiServer,
    worker: WorkerProcess,
    receiver: Receiver,
    tenant: tuple[str, str],
) -> None:
    url = receiver.route("/rejects", Reply(400, b"bad signature?"), Reply(200))
    with hooks_api.client(tenant[1]) as client:
        endpoint = create_endpoint(client, url, "moderation.failed")
        _fail_and_emit(env, db, tenant[0], seed=3005)
        (request,) = receiver.wait_for("/rejects", 1)
        message_id = str(uuid.UUID(request.headers["webhook-id"].removeprefix("msg_")))
        worker.wait_for_log(f"webhook message {message_id}: failed")
        time.sleep(RETRY_BASE_S * 2 + 0.5)
        (attempt,) = _deliveries(client, endpoint["id"], 1)
    assert len(receiver.received("/rejects")) == 1
    assert (attempt["status_code"], attempt["message_status"]) == (400, "failed")
    assert json.loads(request.body)["data"]["status"] == "failed"


def test_the_guard_runs_again_at_delivery_time(
    env: Env, db: str, hooks_api: ApiServer, receiver: Receiver, tenant: tuple[str, str]
) -> None:
    """Created while loopback was allowed; a delivery under the default settings refuses it."""
    url = receiver.route("/now-refused")
    with hooks_api.client(tenant[1]) as client:
        endpoint = create_endpoint(client, url, "moderation.failed")
        _fail_and_emit(env, db, tenant[0], seed=3006, relay=False)
        (message,) = rows(
            db, "SELECT id FROM webhook_messages WHERE endpoint_id = :e", e=endpoint["id"]
        )
        strict = DeliveryContext(
            db, SecretBox(Settings().secret_key.get_secret_value()), 5, 1, 3, allow_private=False
        )
        report = deliver_message_flow(strict, message["id"])  # type: ignore[arg-type]
        (attempt,) = _deliveries(client, endpoint["id"], 1)
    assert report.outcome == "failed" and receiver.received("/now-refused") == []
    assert "loopback" in attempt["error"] and attempt["message_status"] == "failed"


@pytest.mark.parametrize(("attempt", "delay"), [(1, 10), (2, 40), (3, 160), (7, 40960)])
def test_the_retry_schedule_is_exponential(attempt: int, delay: float) -> None:
    assert retry_delay_s(attempt, base_s=10) == delay


def test_a_redirect_to_a_private_address_is_not_followed(
    env: Env,
    db: str,
    hooks_api: ApiServer,
    worker: WorkerProcess,
    receiver: Receiver,
    tenant: tuple[str, str],
) -> None:
    private = receiver.route("/private-target", Reply(200))  # stands for 10.x: never reached
    url = receiver.route("/moves", Reply(302, b"", {"location": private}))
    with hooks_api.client(tenant[1]) as client:
        endpoint = create_endpoint(client, url, "moderation.failed")
        _fail_and_emit(env, db, tenant[0], seed=3007)
        (request,) = receiver.wait_for("/moves", 1)
        message_id = str(uuid.UUID(request.headers["webhook-id"].removeprefix("msg_")))
        worker.wait_for_log(f"webhook message {message_id}: failed")
        (attempt,) = _deliveries(client, endpoint["id"], 1)
    assert receiver.received("/private-target") == []
    assert attempt["message_status"] == "failed"
    assert "redirect" in str(attempt["error"])
