"""Load the model when an inference or backtest worker starts, in the process running tasks."""

from __future__ import annotations

import logging
from typing import Any

from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadPool
from celery.signals import worker_process_init, worker_process_shutdown, worker_ready

from moderation.observability.metrics import process_exited
from moderation.outbox.queues import MODEL_QUEUES
from workers import runtime
from workers.app import app

log = logging.getLogger(__name__)


def _consumes_inference() -> bool:
    return any(q in app.amqp.queues.consume_from for q in MODEL_QUEUES)


@worker_process_init.connect
def _load_in_child(**_: Any) -> None:
    """Prefork: each child loads its own model (the parent never touches CUDA)."""
    if _consumes_inference():
        runtime.engine()


@worker_ready.connect
def _load_in_worker_process(sender: Any = None, **_: Any) -> None:
    """Solo and threads pools: tasks run in this very process, so the engine is made here
    before the first batch (with ``vllm``: once its server answers)."""
    pool = getattr(sender, "pool", None)
    if isinstance(pool, (SoloPool, ThreadPool)) and _consumes_inference():
        runtime.engine()


@worker_process_shutdown.connect
def _forget_metrics_of_child(pid: int | None = None, **_: Any) -> None:
    """Prefork: a child that exits takes its live gauges (engine up) with it."""
    if pid is not None:
        process_exited(pid)
