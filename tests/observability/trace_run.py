"""One upload traced end to end in ONE process, with the OpenTelemetry SDK's in-memory
exporter: the API (FastAPI, in-process), the outbox relay (a real publish to Redis) and a
real Celery worker (in a thread, solo pool, the tiny checkpoint) that decides the upload and
delivers its webhook to a local receiver. Prints the finished spans as JSON lines.

Run by ``tests/observability/test_traces.py`` in a process of its own (a tracer provider is
set once per process); the environment names the database, broker, model and API key, and
``TRACE_RECEIVER`` the webhook URL."""

from __future__ import annotations

import json
import os
import time

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from moderation.observability.tracing import setup_tracing

exporter = InMemorySpanExporter()
setup_tracing("trace-run", exporter)

from celery.contrib.testing.worker import start_worker  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from moderation.app import create_app  # noqa: E402
from moderation.config import Settings, get_settings  # noqa: E402
from moderation.outbox.relay import relay_outbox  # noqa: E402
from tests.support import images  # noqa: E402
from workers.app import app as celery_app  # noqa: E402
from workers.app import publish  # noqa: E402


def main() -> None:
    settings = get_settings()
    assert settings.database_url
    api = create_app(Settings(relay_in_api=False, allow_private_urls=True))
    key = os.environ["TRACE_KEY"]
    with (
        TestClient(api, headers={"Authorization": f"Bearer {key}"}) as client,
        start_worker(
            celery_app,
            pool="solo",
            concurrency=1,
            queues=["inference", "webhooks"],
            perform_ping_check=False,
            shutdown_timeout=30,
        ),
    ):
        hook = {"url": os.environ["TRACE_RECEIVER"], "events": ["moderation.decided"]}
        assert client.post("/v1/webhook-endpoints", json=hook).status_code == 201
        created = client.post(
            "/v1/moderations",
            files={"image": ("t.png", images.png(33, 31, seed=4242), "image/png")},
            headers={"X-Request-ID": "traced-1"},
        )
        assert created.status_code == 202, created.text
        sid = created.json()["id"]
        deadline = time.monotonic() + 120
        while True:
            relay_outbox(settings.database_url, publish)  # also the webhook's message
            if any(s.name == "webhook.deliver" for s in exporter.get_finished_spans()):
                break
            assert time.monotonic() < deadline, "no webhook delivery within 120 s"
            time.sleep(0.2)
    for span in exporter.get_finished_spans():
        context = span.get_span_context()
        assert context is not None
        print(
            json.dumps(
                {
                    "name": span.name,
                    "trace_id": format(context.trace_id, "032x"),
                    "span_id": format(context.span_id, "016x"),
                    "parent_id": format(span.parent.span_id, "016x") if span.parent else None,
                    "links": [format(link.context.trace_id, "032x") for link in span.links],
                    "attributes": {k: str(v) for k, v in (span.attributes or {}).items()},
                    "submission_id": sid,
                }
            )
        )


if __name__ == "__main__":
    main()
