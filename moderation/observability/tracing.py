"""Traces with OpenTelemetry: one trace per upload, from the HTTP request through the outbox
relay to the worker's batch and the webhook delivery.

Switched on by the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``OTEL_TRACES_EXPORTER=console`` prints spans;
``OTEL_SERVICE_NAME`` names the process), off when none is set: then no provider is
installed, nothing is instrumented and the spans below are OpenTelemetry's no-ops.

The context crosses processes as W3C ``traceparent``/``tracestate`` in a *carrier*: the
submission row keeps its upload's (with the ``request_id``), the outbox row and the Celery
message headers carry it, and the webhook message's delivery reads its submission's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Link, Span, SpanKind

TRACE_KEYS = ("traceparent", "tracestate")
_enabled = False


def wanted() -> bool:
    """Whether the environment asks for traces."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if exporter == "none":
        return False
    return bool(
        exporter
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def enabled() -> bool:
    """Whether this process sends traces."""
    return _enabled


def _exporter_from_env() -> SpanExporter:
    if os.environ.get("OTEL_TRACES_EXPORTER") == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_EXPORTER_OTLP_* variables


def setup_tracing(service_name: str, exporter: SpanExporter | None = None) -> bool:
    """Send this process's spans (to ``exporter``, else where the environment says) and
    instrument Celery, SQLAlchemy and Redis; whether tracing is on. FastAPI apps are
    instrumented by :func:`instrument_app`. Once per process."""
    global _enabled
    if _enabled:
        return True
    if exporter is None and not wanted():
        return False
    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_exporter_from_env()))
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]
    # its declared range stops before SQLAlchemy 2.1, whose engine events it uses unchanged
    SQLAlchemyInstrumentor().instrument(skip_dep_check=True)
    RedisInstrumentor().instrument()
    _enabled = True
    return True


def instrument_app(app: Any) -> None:
    """Trace a FastAPI app's requests (when tracing is on)."""
    if _enabled:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls="metrics,healthz")


def carrier() -> dict[str, str]:
    """The current span's context as W3C headers (empty when tracing is off)."""
    if not _enabled:
        return {}
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def context_of(headers: Mapping[str, Any] | None) -> Context | None:
    """The span context ``headers`` carry (None when they carry none)."""
    if not _enabled or not headers or not headers.get("traceparent"):
        return None
    return propagate.extract({k: str(headers[k]) for k in TRACE_KEYS if headers.get(k)})


@contextmanager
def span(
    name: str,
    parent: Mapping[str, Any] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    links: list[Mapping[str, Any] | None] | None = None,
    **attributes: str | int | float | bool,
) -> Iterator[Span]:
    """A span named ``name``, the child of the context ``parent`` carries (else of the current
    one), linked to the contexts of ``links``; current inside the block."""
    tracer = trace.get_tracer("moderation")
    linked = []
    for headers in links or ():
        ctx = context_of(headers)
        if ctx is not None:
            linked.append(Link(trace.get_current_span(ctx).get_span_context()))
    with tracer.start_as_current_span(
        name, context=context_of(parent), kind=kind, links=linked, attributes=attributes
    ) as current:
        yield current


@contextmanager
def spans_for(
    name: str, parents: list[Mapping[str, Any] | None], kind: SpanKind = SpanKind.CONSUMER
) -> Iterator[list[Span]]:
    """One span per ``parents`` carrier, each in its own trace (the batch's uploads), open for
    the block and not made current (the block's own spans belong to the batch's span)."""
    tracer = trace.get_tracer("moderation")
    opened = [tracer.start_span(name, context=context_of(p), kind=kind) for p in parents]
    try:
        yield opened
    finally:
        for one in opened:
            one.end()
