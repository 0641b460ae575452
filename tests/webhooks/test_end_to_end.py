"""Upload → inference worker (tiny LLaVA) → decision → webhooks worker → a signed
``moderation.decided`` POST to a real receiver, whose payload is what GET returns."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.support import images
from tests.support.processes import ApiServer, WorkerProcess, start_worker, wait_for_status
from tests.support.receiver import Receiver
from tests.webhooks.conftest import create_endpoint

LOOPBACK = {"MODERATION_ALLOW_PRIVATE_URLS": "true"}


@pytest.fixture(scope="module")
def workers(
    db: str, checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    logs = tmp_path_factory.mktemp("webhooks-e2e")
    model = checkpoints["llava"]
    with (
        start_worker(logs / "inference.log", model, queues="inference", **LOOPBACK) as inference,
        start_worker(logs / "webhooks.log", model, queues="webhooks", **LOOPBACK) as webhooks,
    ):
        yield inference, webhooks


def _attempts(client: httpx.Client, endpoint_id: str, timeout: float = 30) -> list[Any]:
    """The endpoint's recorded attempts, once there are any (an attempt is committed just
    after the POST it records has been answered)."""
    deadline = time.monotonic() + timeout
    while True:
        data: list[Any] = client.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries").json()[
            "data"
        ]
        if data or time.monotonic() > deadline:
            return data
        time.sleep(0.05)


def test_a_decision_is_posted_signed_with_the_get_representation(
    workers: tuple[WorkerProcess, WorkerProcess],
    loopback_api: ApiServer,
    receiver: Receiver,
    new_key: Callable[[], str],
) -> None:
    url = receiver.route("/decided")
    with loopback_api.client(new_key()) as client:
        endpoint = create_endpoint(client, url, "moderation.decided")
        created = client.post(
            "/v1/moderations",
            files={"image": ("a.jpg", images.jpeg(48, 40, seed=4242), "image/jpeg")},
            data={"external_id": "webhook-e2e"},
        )
        assert created.status_code == 202, created.text
        moderation = wait_for_status(client, created.json()["id"], ("decided",), timeout=90)
        (request,) = receiver.wait_for("/decided", 1, timeout=60)
        (attempt,) = _attempts(client, endpoint["id"])
    payload = Webhook(str(endpoint["secret"])).verify(request.body, request.headers)
    assert payload["type"] == "moderation.decided"
    assert payload["data"] == moderation
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["content-type"] == "application/json"
    assert attempt["webhook_id"] == request.headers["webhook-id"]
    assert (attempt["event"], attempt["moderation_id"], attempt["succeeded"]) == (
        "moderation.decided",
        moderation["id"],
        True,
    )
    assert all(w.alive() for w in workers)
