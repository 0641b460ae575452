"""The gauges that describe the whole system, read when Prometheus scrapes the API: the depth
of each Celery queue (Redis), the outbox messages not yet sent and the review backlog per
reason (Postgres). Exported by the API only (no process sums them); each reading is kept for
``max_age_s`` so that frequent scrapes cost one read at most."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from moderation.outbox import repository as outbox
from moderation.outbox.queues import (
    BACKTEST_QUEUE,
    INFERENCE_QUEUE,
    MAINTENANCE_QUEUE,
    WEBHOOKS_QUEUE,
)
from moderation.review.queue import backlog_by_reason
from moderation.storage.db import statement_scope
from moderation.submissions.backlog import QueueDepth

log = logging.getLogger(__name__)
QUEUES = (INFERENCE_QUEUE, WEBHOOKS_QUEUE, BACKTEST_QUEUE, MAINTENANCE_QUEUE)


class SystemGauges(Collector):
    """``moderation_queue_depth{queue}``, ``moderation_outbox_pending``,
    ``moderation_review_queue_items{reason}``; a source that cannot be read is left out of
    the scrape (and logged), so an alert sees the series go absent, not a false zero."""

    def __init__(self, db_url: str, broker_url: str | None, max_age_s: float = 5.0) -> None:
        self._db_url = db_url
        self._queues = (
            {q: QueueDepth(broker_url, q, max_age_s) for q in QUEUES} if broker_url else {}
        )
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._database: tuple[int, dict[str, int]] | None = None

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "moderation_queue_depth", "Messages waiting in each Celery queue", labels=["queue"]
        )
        for name, reading in self._queues.items():
            if (value := reading.current()) is not None:
                depth.add_metric([name], value)
        yield depth
        database = self._read_database()
        if database is None:
            return
        pending, backlog = database
        yield GaugeMetricFamily(
            "moderation_outbox_pending", "Outbox messages not yet sent to the broker", pending
        )
        items = GaugeMetricFamily(
            "moderation_review_queue_items",
            "Items waiting in the review queue, by reason",
            labels=["reason"],
        )
        for reason, count in backlog.items():
            items.add_metric([reason], count)
        yield items

    def _read_database(self) -> tuple[int, dict[str, int]] | None:
        with self._lock:
            if time.monotonic() - self._read_at >= self._max_age_s:
                self._read_at = time.monotonic()
                try:
                    with statement_scope(self._db_url) as session:
                        backlog = {str(r): n for r, n in backlog_by_reason(session).items()}
                        self._database = (outbox.pending_count(session), backlog)
                except Exception as exc:  # the database is down: the scrape still answers
                    log.warning("cannot read the outbox and review backlog for /metrics: %s", exc)
                    self._database = None
            return self._database


def system_registry(db_url: str, broker_url: str | None) -> CollectorRegistry:
    """A registry holding this system's gauges (one per API app)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SystemGauges(db_url, broker_url))
    return registry
