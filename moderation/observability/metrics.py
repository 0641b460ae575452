"""The service's Prometheus metrics, in Prometheus's naming conventions, with no tenant label
(cardinality).

Each process counts what it does: the API its uploads, HTTP requests and reviewer decisions;
the workers their decisions, model calls, failures and webhook deliveries. Processes that run
several of themselves (``serve --workers N``, a prefork pool) count in prometheus-client's
multiprocess mode: ``moderation.observability.processes.use_multiprocess_dir`` is called
by the CLI before this module is imported, and :func:`exposition` then adds up every
process's files. The gauges that describe the whole system (queue depth, outbox, review
backlog) are not here: the API exports them, read at scrape time
(``moderation.health.gauges``), so nothing sums them across processes.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from moderation.observability.processes import MULTIPROC_ENV

CONTENT_TYPE = CONTENT_TYPE_LATEST

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

UPLOADS = Counter(
    "moderation_uploads",
    "Uploads (POST /v1/moderations) by outcome: accepted, or the error code of the refusal",
    ["outcome"],
)
DECISIONS = Counter(
    "moderation_decisions",
    "Decisions stored, by action and source (model, cache, hash_match, reviewer)",
    ["action", "source"],
)
DECISION_LATENCY = Histogram(
    "moderation_decision_latency_seconds",
    "From the upload accepted to its first decision stored",
    buckets=_SECONDS,
)
INFERENCE_BATCH_SIZE = Histogram(
    "moderation_inference_batch_size",
    "Images per model call",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
INFERENCE_SECONDS = Histogram(
    "moderation_inference_seconds", "Time inside one model call", buckets=_SECONDS
)
MODEL_CALLS = Counter("moderation_model_calls", "Model calls (batched engine calls)")
FAILED = Counter(
    "moderation_failed",
    "Submissions failed, by reason: image, model, gave_up (every attempt's worker died)",
    ["reason"],
)
WEBHOOK_DELIVERIES = Counter(
    "moderation_webhook_deliveries",
    "Webhook delivery attempts by outcome (delivered, retrying, failed, ...)",
    ["outcome"],
)
OUTBOX_SENT = Counter("moderation_outbox_sent", "Outbox messages sent to the broker")
ENGINE_UP = Gauge(
    "moderation_engine_up",
    "1 while this worker's engine answers, 0 while it does not (only processes with an engine)",
    ["model"],
    multiprocess_mode="livemax",
)
HTTP_REQUESTS = Counter(
    "moderation_http_requests", "HTTP requests by route and status", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "moderation_http_request_duration_seconds",
    "HTTP request duration by route",
    ["method", "route"],
    buckets=_SECONDS,
)


def process_registry() -> CollectorRegistry:
    """What this process exposes: every process's files in multiprocess mode, else its own."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def exposition(*extra: CollectorRegistry) -> bytes:
    """The text exposition of this process's metrics and ``extra`` registries."""
    return b"".join(generate_latest(r) for r in (process_registry(), *extra))


def serve_metrics(port: int) -> None:
    """Serve ``/metrics`` on ``port`` from a thread (workers and the relay)."""
    start_http_server(port, registry=process_registry())


def process_exited(pid: int) -> None:
    """Forget a dead process's live gauges (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
