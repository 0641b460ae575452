"""The FastAPI application: the JSON API routers of each capability and the console, mounted at
``/review``; the one place where the two meet."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from moderation import __version__
from moderation.accounts.known_keys import KnownKeys
from moderation.accounts.rate_limit import KeyRateLimiter
from moderation.accounts.routes import router as api_keys_router
from moderation.banks.routes import router as banks_router
from moderation.config import Settings, get_settings
from moderation.console.app import create_review_app
from moderation.health.gauges import system_registry
from moderation.health.routes import router as health_router
from moderation.observability.logs import configure_logging
from moderation.observability.tracing import instrument_app, setup_tracing
from moderation.outbox.broker import default_publish
from moderation.outbox.queues import INFERENCE_QUEUE
from moderation.outbox.relay import OutboxRelay, Publish
from moderation.policies.routes import router as policies_router
from moderation.retention.routes import router as retention_router
from moderation.review.routes import router as reviews_router
from moderation.storage.blobs import blob_store
from moderation.submissions.backlog import QueueDepth
from moderation.submissions.intake_batcher import IntakeBatcher
from moderation.submissions.routes import UPLOAD_PATH
from moderation.submissions.routes import router as moderations_router
from moderation.web.body_limit import BodyLimitMiddleware
from moderation.web.errors import install_error_handlers
from moderation.web.hygiene import RequestHygieneMiddleware
from moderation.web.telemetry import RequestTelemetryMiddleware
from moderation.webhooks.routes import router as webhooks_router

CONSOLE_PREFIX = "/review"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the outbox relay beside the API (unless disabled)."""
    settings: Settings = app.state.settings
    relay = None
    if settings.relay_in_api:
        assert settings.database_url
        relay = OutboxRelay(settings.database_url, resolve_publish(app))
        relay.start()
    try:
        yield
    finally:
        app.state.intake.close()
        if relay is not None:
            relay.stop()


def create_app(settings: Settings | None = None, publish: Publish | None = None) -> FastAPI:
    """Build the API for these settings; ``publish`` defaults to the Celery app of ``workers``."""
    settings = settings or get_settings()
    if not settings.database_url:
        raise RuntimeError("MODERATION_DATABASE_URL is not set (or run `moderation standalone`)")
    app = FastAPI(
        lifespan=_lifespan,
        title="Moderation API",
        version=__version__,
        description="Image content moderation with LLaVA-family models.",
    )
    app.state.settings = settings
    app.state.publish = publish
    app.state.rate_limiter = (
        KeyRateLimiter(settings.broker_url, settings.rate_limit)
        if settings.broker_url and settings.rate_limit
        else None
    )
    app.state.intake = IntakeBatcher(settings.database_url, blob_store(settings))
    app.state.known_keys = KnownKeys()
    app.state.backlog = (
        QueueDepth(settings.broker_url, INFERENCE_QUEUE) if settings.broker_url else None
    )
    app.state.system_metrics = system_registry(settings.database_url, settings.broker_url)
    install_error_handlers(app)
    # the last added runs first: request id and metrics, the body limit, then the hygiene
    # checks (which buffer a body)
    app.add_middleware(RequestHygieneMiddleware, console_prefix=CONSOLE_PREFIX)
    app.add_middleware(
        BodyLimitMiddleware, limit=settings.max_image_bytes + settings.max_form_overhead_bytes
    )
    app.add_middleware(RequestTelemetryMiddleware, upload_path=UPLOAD_PATH)
    for router in (
        moderations_router,
        retention_router,
        reviews_router,
        api_keys_router,
        webhooks_router,
        health_router,
        policies_router,
        banks_router,
    ):
        app.include_router(router)
    app.mount(CONSOLE_PREFIX, create_review_app(settings))
    instrument_app(app)
    return app


def create_served_app() -> FastAPI:
    """The app as ``moderation serve`` runs it, made in each server process: its logging and
    traces set up first (from the settings and the OTEL_* variables)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    setup_tracing("moderation-api")
    return create_app(settings)


def resolve_publish(app: FastAPI) -> Publish:
    """How this app sends task messages (a Celery publisher built from the settings unless one
    was injected)."""
    publish: Publish | None = app.state.publish
    if publish is None:
        publish = app.state.publish = default_publish()
    return publish
