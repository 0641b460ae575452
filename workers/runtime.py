"""Per-process resources of a worker, created lazily in the process that runs tasks."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from functools import lru_cache

from moderation.config import get_settings
from moderation.health import repository as inference_workers
from moderation.inference.types import Engine
from moderation.storage.blobs import blob_store
from moderation.storage.db import session_scope
from moderation.submissions.flow_state import FlowContext
from moderation.submissions.images import animation_limits
from moderation.submissions.moderation_flow import warm_up_flow
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
        verdict_cache_scope=settings.verdict_cache_scope,
        animation=animation_limits(settings),
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


_engine_lock = threading.Lock()


def engine() -> Engine:
    """The engine, made once per worker process on first use (never in a prefork parent): the
    model loaded here (``local``), or a client of the inference server (``vllm``), which
    waits for that server to answer. Thread-safe (a threads-pool worker shares it)."""
    with _engine_lock:
        return _engine()


@lru_cache(maxsize=1)
def _engine() -> Engine:
    settings = get_settings()
    made = _served_engine() if settings.engine == "vllm" else _local_engine()
    log.info(
        "model %s (%s) on %s/%s warmed up, asked the %s way (%s)",
        made.model_id,
        made.revision,
        made.device,
        made.dtype,
        made.profile.name,
        made.profile.reason,
    )
    _register(made)
    warm_up_flow(flow_context(), made)
    poison = settings.chaos_kill_image_size or settings.chaos_fail_image_size
    if poison:
        from moderation.inference.chaos import FailingOnSize, parse_size

        kill = bool(settings.chaos_kill_image_size)
        log.warning("fault injection on: images of %s %s", poison, "kill" if kill else "fail")
        return FailingOnSize(made, parse_size(poison), kill)
    return made


def _local_engine() -> Engine:
    from moderation.inference import load_engine
    from moderation.inference.resolve import resolve_model

    settings = get_settings()
    model, _ = resolve_model(settings)
    return load_engine(
        model,
        revision=settings.model_revision,
        device=settings.device,
        dtype=settings.dtype,
        warm_up=True,
        profile=settings.model_profile,
    )


def _served_engine() -> Engine:
    from moderation.inference.served import VLLMEngine

    settings = get_settings()
    key = settings.engine_api_key
    served = VLLMEngine(
        settings.engine_url,
        api_key=key.get_secret_value() if key else None,
        timeout_s=settings.engine_timeout_s,
        concurrency=settings.engine_concurrency,
        revision=settings.model_revision,
        profile=settings.model_profile,
    )
    log.info("engine: vLLM server at %s", settings.engine_url)
    served.wait_until_ready()
    served.warm_up()
    return served


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
            profile=engine.profile.name,
            warmed_up=engine.warmed_up,
            batch_size=get_settings().batch_size,
        )


class Backoff:
    """Growing delays while the engine stays unavailable (1, 2, 4... s up to ``cap_s``); back
    to the first after a batch that reached it."""

    def __init__(self, cap_s: float = 30.0) -> None:
        self.cap_s = cap_s
        self._failures = 0
        self._lock = threading.Lock()

    def next_delay(self, unavailable: bool) -> float:
        """The delay before the work given back now is tried again (0 after a success)."""
        with self._lock:
            self._failures = self._failures + 1 if unavailable else 0
            return min(self.cap_s, 2.0 ** (self._failures - 1)) if unavailable else 0.0


engine_backoff = Backoff(get_settings().engine_retry_max_s)
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
