"""The broker side of the outbox: the Celery app (JSON only, late acks,
one queue per workload, no result backend) and the publisher the outbox relay sends with."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from celery import Celery

from moderation.config import get_settings
from moderation.outbox.queues import (
    BACKTEST_QUEUE,
    INFERENCE_QUEUE,
    MAINTENANCE_QUEUE,
    PURGE_TASK,
    SWEEP_TASK,
    WEBHOOKS_QUEUE,
)

# messages held in one Redis pipeline at most (a relay round claims up to 500)
PUBLISH_BATCH_MAX = 1000


def create_celery(broker_url: str | None = None, include: Sequence[str] = ()) -> Celery:
    """The Celery app of these settings (``broker_url`` overrides the configured one); the
    workers pass the modules of their tasks as ``include``."""
    settings = get_settings()
    app = Celery("moderation", broker=broker_url or settings.broker_url, include=list(include))
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,  # results live in Postgres
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # a prefork pool process loads the model before it reports up; Celery's default 4 s
        # would kill every new process of a real (or loaded machine's tiny) model in a loop
        worker_proc_alive_timeout=600,
        task_default_queue=MAINTENANCE_QUEUE,
        task_routes={
            "inference.*": {"queue": INFERENCE_QUEUE},
            "maintenance.*": {"queue": MAINTENANCE_QUEUE},
            "webhooks.*": {"queue": WEBHOOKS_QUEUE},
            "backtest.*": {"queue": BACKTEST_QUEUE},
        },
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "sweep": {"task": SWEEP_TASK, "schedule": settings.sweep_interval_s},
            "purge-images": {"task": PURGE_TASK, "schedule": settings.image_purge_interval_s},
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        timezone="UTC",
    )
    return app


class CeleryPublish:
    """A :class:`~moderation.outbox.relay.BatchingPublish` over a Celery app: sends task
    messages now, without retrying (the outbox keeps them).

    It keeps one producer (and its broker connection) from call to call, so a send does not
    pay for a connection; after an error with a kept producer a single send tries once more
    with a new one. ``batch()`` holds a round's messages in one Redis pipeline (kombu's
    ``Producer.batch``): one client and one round trip for the round (what each saves:
    docs/benchmarks.md, "Figures behind the code").
    """

    def __init__(self, celery: Celery) -> None:
        self._celery = celery
        self._lock = threading.RLock()
        self._kept: Any = None
        self._batching = False

    def __call__(
        self, task: str, queue: str, kwargs: dict[str, Any], headers: dict[str, Any] | None = None
    ) -> None:
        with self._lock:
            if self._batching:  # buffered: errors surface when the batch is flushed
                self._send(task, queue, kwargs, headers)
                return
            reused = self._kept is not None
            try:
                self._send(task, queue, kwargs, headers)
            except Exception:
                if not reused:
                    raise
                self._send(task, queue, kwargs, headers)  # the kept connection may be stale

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Deliver the sends made inside the context together when it exits."""
        with self._lock:
            try:
                with self._producer().batch(max_size=PUBLISH_BATCH_MAX):
                    self._batching = True
                    try:
                        yield
                    finally:
                        self._batching = False
            except BaseException:
                self._drop()  # a broken or stale connection: a new producer next time
                raise

    def _producer(self) -> Any:
        if self._kept is None:
            self._kept = self._celery.producer_pool.acquire(block=True)
        return self._kept

    def _drop(self) -> None:
        if self._kept is not None:
            self._kept.release()
            self._kept = None

    def _send(
        self, task: str, queue: str, kwargs: dict[str, Any], headers: dict[str, Any] | None
    ) -> None:
        try:
            self._celery.send_task(
                task,
                kwargs=kwargs,
                queue=queue,
                retry=False,
                producer=self._producer(),
                headers=headers or None,
            )
        except BaseException:
            if not self._batching:  # a batch drops its producer when it ends
                self._drop()
            raise


def publisher(celery: Celery) -> CeleryPublish:
    """The ``Publish`` (with batches) of a Celery app."""
    return CeleryPublish(celery)


def default_publish() -> CeleryPublish:
    """The publisher of a Celery app built from the settings (what the API and relay send with)."""
    return publisher(create_celery())
