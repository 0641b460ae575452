"""Traces: one trace per upload, from the HTTP request through the relay to the worker's
batch and the webhook delivery (``trace_run.py``, in a process of its own); off and free
when no OTEL_* variable asks for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moderation.observability import tracing
from tests.conftest import ROOT
from tests.support.receiver import Reply, start_receiver


def test_api_relay_worker_and_webhook_spans_of_one_upload_share_one_trace(
    make_db: Callable[[], str], checkpoints: dict[str, Path]
) -> None:
    from moderation.admin import create_tenant_key

    db = make_db()  # its own outbox: no other relay of the suite sends these messages
    key = create_tenant_key(db, "traced")
    with start_receiver() as receiver:
        url = receiver.route("/traced", Reply(200))
        run = subprocess.run(
            [sys.executable, "-m", "tests.observability.trace_run"],
            env={
                **os.environ,
                "MODERATION_DATABASE_URL": db,
                "MODERATION_MODEL": str(checkpoints["llava"]),
                "MODERATION_ALLOW_PRIVATE_URLS": "true",
                "MODERATION_BATCH_WAIT_MS": "10",
                "TRACE_KEY": key,
                "TRACE_RECEIVER": url,
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert run.returncode == 0, run.stderr[-4000:]
    spans: list[dict[str, Any]] = [
        json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")
    ]
    upload = next(s for s in spans if s["name"] == "POST /v1/moderations")
    trace = [s for s in spans if s["trace_id"] == upload["trace_id"]]
    names = {s["name"] for s in trace}
    assert {"outbox.relay", "inference.moderate", "webhook.deliver"} <= names, names
    by_id = {s["span_id"]: s for s in trace}
    relay = next(s for s in trace if s["name"] == "outbox.relay")
    consumed = next(s for s in trace if s["name"] == "inference.moderate")
    ancestors = []  # the worker's span hangs off the relay's (via Celery's publish span)
    parent = consumed["parent_id"]
    while parent in by_id:
        ancestors.append(by_id[parent]["name"])
        parent = by_id[parent]["parent_id"]
    assert ancestors[-1] == "POST /v1/moderations" and "outbox.relay" in ancestors, ancestors
    assert by_id[relay["parent_id"]]["trace_id"] == upload["trace_id"]
    assert consumed["attributes"]["moderation.submission_id"] == upload["submission_id"]
    # the batch that decided the upload links its trace (the in-thread worker may also run
    # batches of messages other tests left in the broker, which link nothing of this run)
    batches = [s for s in spans if s["name"] == "inference.batch"]
    assert any(upload["trace_id"] in b["links"] for b in batches), batches
    # the database work of the flow is traced too (SQLAlchemy instrumentation)
    assert any(s["name"].startswith(("SELECT", "UPDATE", "INSERT")) for s in spans)


def test_tracing_is_off_without_otel_variables(monkeypatch: Any) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    assert not tracing.wanted()
    assert not tracing.enabled()  # the suite's process never turned it on
    assert tracing.carrier() == {}  # nothing is carried, nothing is exported
    assert tracing.context_of({"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.wanted()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.wanted()
