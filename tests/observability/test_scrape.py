"""What an operator sees of a running stack: the real ``/metrics`` of ``moderation serve
--workers 2`` and of a worker (``MODERATION_METRICS_PORT``), and their JSON log lines.

One stack for the module, on its own database (a message left in the broker by another
test names no submission of it, so it moves no counter asserted here): a tenant with a
webhook endpoint on a local receiver, a console account that signs in, uploads with and
without ``X-Request-ID``, two refusals."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.console.support import PASSWORD, make_account, try_login
from tests.support import images
from tests.support.processes import (
    ApiProcess,
    WorkerProcess,
    free_port,
    start_api_process,
    start_worker,
    wait_for_status,
)
from tests.support.receiver import Receiver, start_receiver
from tests.webhooks.conftest import create_endpoint

UPLOADS = 5  # distinct images, each judged by the model; then one of them again (the cache)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= ls)


@dataclass
class Stack:
    api: ApiProcess
    api_log: Path
    worker: WorkerProcess
    worker_metrics: str
    key: str
    receiver: Receiver
    secrets: dict[str, str] = field(default_factory=dict)
    before: dict[str, Samples] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)  # accepted submissions, in upload order
    refusals: dict[str, int] = field(default_factory=dict)  # error code -> how many

    def scrape(self) -> dict[str, Samples]:
        """Both processes' metrics now."""
        with httpx.Client(timeout=10) as client:
            api = client.get(f"{self.api.url}/metrics")
            worker = client.get(self.worker_metrics)
        assert api.status_code == worker.status_code == 200
        assert api.headers["content-type"].startswith("text/plain")
        return {"api": samples(api.text), "worker": samples(worker.text)}

    def logs(self) -> list[str]:
        """Every line the API and the worker wrote."""
        api = self.api_log.read_text(errors="replace")
        return api.splitlines() + self.worker.log().splitlines()


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


@pytest.fixture(scope="module")
def stack(
    make_db: Callable[[], str],
    checkpoints: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    from moderation.admin import create_tenant_key

    db = make_db()
    base = tmp_path_factory.mktemp("observed")
    port = free_port()
    common = {
        "MODERATION_DATABASE_URL": db,
        "MODERATION_LOG_FORMAT": "json",
        "MODERATION_ALLOW_PRIVATE_URLS": "true",
    }
    key = create_tenant_key(db, "observed")
    account = make_account(db, "admin")
    with (
        start_receiver() as receiver,
        start_api_process(
            base / "api.log", ["--workers", "2"], MODERATION_ACCESS_LOG="true", **common
        ) as api,
        start_worker(
            base / "worker.log",
            checkpoints["llava"],
            queues="inference,webhooks",
            stack_env=common,
            MODERATION_METRICS_PORT=str(port),
        ) as worker,
    ):
        up = Stack(api, base / "api.log", worker, f"http://127.0.0.1:{port}/metrics", key, receiver)
        up.secrets = {"api key": key, "password": PASSWORD}
        with httpx.Client(base_url=api.url, timeout=30) as console:
            assert try_login(console, account.email).status_code == 303  # type: ignore[arg-type]
        up.before = up.scrape()
        with api.client(key) as client:
            endpoint = create_endpoint(client, receiver.route("/hooks"), "moderation.decided")
            up.secrets["webhook secret"] = str(endpoint["secret"])
            _send(up, client)
        receiver.wait_for("/hooks", UPLOADS + 1, timeout=60)
        yield up


def _send(up: Stack, client: httpx.Client) -> None:
    """The uploads (each decided before the next batch), then the refusals."""
    for i in range(UPLOADS):
        headers = {"X-Request-ID": f"obs-req-{i}"} if i % 2 == 0 else {}
        created = client.post(
            "/v1/moderations",
            files={"image": (f"{i}.png", images.png(30 + i, 30, seed=700 + i), "image/png")},
            headers=headers,
        )
        assert created.status_code == 202, created.text
        up.ids.append(created.json()["id"])
    for sid in up.ids:
        wait_for_status(client, sid, ("decided",), timeout=120)
    again = client.post(
        "/v1/moderations",
        files={"image": ("again.png", images.png(30, 30, seed=700), "image/png")},
    )
    assert again.status_code == 202, again.text
    up.ids.append(again.json()["id"])
    assert wait_for_status(client, up.ids[-1], ("decided",))["decision"]["source"] == "cache"
    refused = [
        client.post("/v1/moderations", files={"image": ("a.txt", b"not an image", "text/plain")}),
        client.post(
            "/v1/moderations",
            files={"image": ("b.png", images.png(20, 20, seed=799), "image/png")},
            data={"policy": "no-such-policy"},
        ),
    ]
    for response in refused:
        assert response.status_code in (415, 422), response.text
        code = response.json()["error"]["code"]
        up.refusals[code] = up.refusals.get(code, 0) + 1


def _moved(up: Stack, after: dict[str, Samples], where: str, name: str, **labels: str) -> float:
    return value(after[where], name, **labels) - value(up.before[where], name, **labels)


def test_the_apis_counters_moved_by_what_was_sent(stack: Stack) -> None:
    after = stack.scrape()
    accepted = len(stack.ids)
    assert _moved(stack, after, "api", "moderation_uploads_total", outcome="accepted") == accepted
    for code, count in stack.refusals.items():
        assert _moved(stack, after, "api", "moderation_uploads_total", outcome=code) == count
    uploads = accepted + sum(stack.refusals.values())
    route = {"method": "POST", "route": "/v1/moderations"}
    assert _moved(stack, after, "api", "moderation_http_requests_total", **route) == uploads
    assert (
        _moved(stack, after, "api", "moderation_http_requests_total", status="202", **route)
        == accepted
    )
    histogram = "moderation_http_request_duration_seconds_count"
    assert _moved(stack, after, "api", histogram, **route) == uploads
    templated = {"method": "GET", "route": "/v1/moderations/{moderation_id}"}
    assert _moved(stack, after, "api", "moderation_http_requests_total", **templated) >= accepted


def test_the_workers_counters_moved_by_what_was_decided(stack: Stack) -> None:
    after = stack.scrape()
    decided = len(stack.ids)
    assert _moved(stack, after, "worker", "moderation_decisions_total") == decided
    assert _moved(stack, after, "worker", "moderation_decisions_total", source="cache") == 1
    assert _moved(stack, after, "worker", "moderation_decisions_total", source="model") == UPLOADS
    latency = "moderation_decision_latency_seconds_count"
    assert _moved(stack, after, "worker", latency) == decided
    calls = _moved(stack, after, "worker", "moderation_model_calls_total")
    assert calls >= 1
    assert _moved(stack, after, "worker", "moderation_inference_batch_size_count") == calls
    assert _moved(stack, after, "worker", "moderation_inference_seconds_count") == calls
    assert _moved(stack, after, "worker", "moderation_inference_batch_size_sum") == UPLOADS
    delivered = {"outcome": "delivered"}
    assert _moved(stack, after, "worker", "moderation_webhook_deliveries_total", **delivered) == (
        decided
    )
    assert value(after["worker"], "moderation_engine_up") == 1
    assert value(after["worker"], "moderation_failed_total") == 0


def test_the_system_gauges_come_from_the_api_only(stack: Stack) -> None:
    after = stack.scrape()
    api_names = {name for name, _ in after["api"]}
    assert {"moderation_queue_depth", "moderation_outbox_pending"} <= api_names
    assert value(after["api"], "moderation_queue_depth", queue="inference") == 0
    assert value(after["api"], "moderation_outbox_pending") == 0
    reasons = {dict(ls)["reason"] for n, ls in after["api"] if n == "moderation_review_queue_items"}
    assert reasons == {"review", "appeal", "sample", "hash_match"}
    worker_names = {name for name, _ in after["worker"]}
    assert not worker_names & {"moderation_queue_depth", "moderation_review_queue_items"}


def test_the_workers_json_lines_name_the_upload_and_its_request(stack: Stack) -> None:
    lines = json_lines(stack.worker.log().splitlines())
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    first = stack.ids[0]
    about = [line for line in lines if line.get("submission_id") == first]
    assert about, "no worker line names the first upload"
    assert {line.get("request_id") for line in about} == {"obs-req-0"}
    assert all(line.get("task_id") for line in about if line["logger"].startswith("workers"))
    # an upload sent without X-Request-ID got one made by the API, carried the same way
    second = [line for line in lines if line.get("submission_id") == stack.ids[1]]
    made = {line.get("request_id") for line in second}
    assert len(made) == 1 and None not in made
    (request_id,) = made
    api_lines = json_lines(stack.api_log.read_text().splitlines())
    assert any(line.get("request_id") == request_id for line in api_lines)


def test_the_api_answers_with_the_request_id(stack: Stack) -> None:
    with stack.api.client(stack.key) as client:
        sent = client.get("/v1/policies", headers={"X-Request-ID": "mine-123"})
        made = client.get("/v1/policies")
        hostile = client.get("/v1/policies", headers={"X-Request-ID": "x" * 500})
    assert sent.headers["X-Request-ID"] == "mine-123"
    assert uuid.UUID(made.headers["X-Request-ID"])
    assert uuid.UUID(hostile.headers["X-Request-ID"])  # not echoed: replaced


def test_no_key_password_or_webhook_secret_is_logged(stack: Stack) -> None:
    text = "\n".join(stack.logs())
    assert "obs-req-0" in text and "POST /v1/moderations" in text  # the logs are there
    for what, secret in stack.secrets.items():
        assert secret not in text, f"the {what} appears in a log line"
        assert secret.split("_", 1)[-1][:16] not in text, f"part of the {what} is logged"
