"""The Celery app: JSON only, late acks, one queue per workload, no result backend."""

from __future__ import annotations

import threading
from typing import Any

from celery import Celery

from moderation.config import get_settings
from moderation.domain.dispatch import Publish
from moderation.domain.webhook_events import WEBHOOKS_QUEUE

INFERENCE_QUEUE = "inference"
MAINTENANCE_QUEUE = "maintenance"
BACKTEST_QUEUE = "backtest"
MODEL_QUEUES = (INFERENCE_QUEUE, BACKTEST_QUEUE)  # workers consuming these load the model


def create_celery(broker_url: str | None = None) -> Celery:
    """Build the Celery app from the settings (``broker_url`` overrides the configured one)."""
    settings = get_settings()
    app = Celery("moderation", broker=broker_url or settings.broker_url, include=["workers.tasks"])
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
            "sweep": {"task": "maintenance.sweep", "schedule": settings.sweep_interval_s},
        },
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        timezone="UTC",
    )
    return app


def publisher(celery: Celery) -> Publish:
    """A ``Publish`` that sends one task message now, without retrying (the outbox keeps it).

    It keeps one producer (and its broker connection) from call to call, which saves about a
    quarter of a send; after an error with a kept producer it tries once more with a new one.
    """
    lock = threading.Lock()
    kept: list[Any] = []

    def send(task: str, queue: str, kwargs: dict[str, Any]) -> None:
        producer = kept[0] if kept else celery.producer_pool.acquire(block=True)
        kept[:] = [producer]
        try:
            celery.send_task(task, kwargs=kwargs, queue=queue, retry=False, producer=producer)
        except BaseException:
            kept.clear()
            producer.release()
            raise

    def publish(task: str, queue: str, kwargs: dict[str, Any]) -> None:
        with lock:
            reused = bool(kept)
            try:
                send(task, queue, kwargs)
            except Exception:
                if not reused:
                    raise
                send(task, queue, kwargs)  # the kept connection may have gone stale

    return publish


app = create_celery()
publish = publisher(app)
