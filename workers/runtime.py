"""Per-process resources of a worker, created lazily in the process that runs tasks."""

from __future__ import annotations

import logging
import os
import socket
import time
from functools import lru_cache

from moderation.config import get_settings
from moderation.health import repository as inference_workers
from moderation.inference.types import Engine
from moderation.storage.blobs import blob_store
from moderation.storage.db import session_scope
from moderation.submissions.moderation_flow import FlowContext, warm_up_flow
from moderation.webhooks.delivery import DeliveryContext
from moderation.webhooks.secrets import SecretBox

log = logging.getLogger(__name__)


def database_url() -> str:
    """The configured database URL (a clear error when missing)."""
    url = get_settings().database_url
    if not url:
        raise RuntimeError("MODERATION_DATABASE_URL is not set")
    return url


@lru_cache(maxsize=1)
def flow_context() -> FlowContext:
    """Database, blobs and limits for the moderation flow. Its commits are synchronous: a
    decision's webhook may leave as soon as the commit is visible, so it must be on disk by
    then (a lost claim would be harmless, but one setting for the flow keeps it simple)."""
    settings = get_settings()
    return FlowContext(
        db_url=database_url(),
        blobs=blob_store(settings),
        max_pixels=settings.max_image_pixels,
        max_attempts=settings.max_attempts,
    )


@lru_cache(maxsize=1)
def delivery_context() -> DeliveryContext:
    """Database, server key and limits for webhook delivery."""
    settings = get_settings()
    return DeliveryContext(
        db_url=database_url(),
        box=SecretBox(settings.secret_key.get_secret_value()),
        timeout_s=settings.webhook_timeout_s,
        retry_base_s=settings.webhook_retry_base_s,
        max_attempts=settings.webhook_max_attempts,
        allow_private=settings.allow_private_urls,
    )


@lru_cache(maxsize=1)
def engine() -> Engine:
    """The model, loaded once per worker process on first use (never in a prefork parent)."""
    from moderation.inference import load_engine
    from moderation.inference.resolve import resolve_model

    settings = get_settings()
    model, _ = resolve_model(settings)
    loaded = load_engine(
        model,
        revision=settings.model_revision,
        device=settings.device,
        dtype=settings.dtype,
        warm_up=True,
    )
    log.info(
        "model %s (%s) on %s/%s warmed up",
        loaded.model_id,
        loaded.revision,
        loaded.device,
        loaded.dtype,
    )
    _register(loaded)
    warm_up_flow(flow_context(), loaded)
    poison = settings.chaos_kill_image_size or settings.chaos_fail_image_size
    if poison:
        from moderation.inference.chaos import FailingOnSize, parse_size

        kill = bool(settings.chaos_kill_image_size)
        log.warning("fault injection on: images of %s %s", poison, "kill" if kill else "fail")
        return FailingOnSize(loaded, parse_size(poison), kill)
    return loaded


def worker_name() -> str:
    """This process in the workers' registry: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _register(engine: Engine) -> None:
    with session_scope(database_url()) as session:
        inference_workers.register(
            session,
            worker_name(),
            model_id=engine.model_id,
            model_revision=engine.revision,
            device=engine.device,
            dtype=engine.dtype,
            warmed_up=engine.warmed_up,
            batch_size=get_settings().batch_size,
        )


_last_heartbeat = 0.0


def heartbeat(every_s: float = 10.0) -> None:
    """Mark this worker alive in the registry (at most every ``every_s`` seconds)."""
    global _last_heartbeat
    now = time.monotonic()
    if now - _last_heartbeat < every_s:
        return
    _last_heartbeat = now
    with session_scope(database_url()) as session:
        inference_workers.touch(session, worker_name())
