"""The observability tests: the committed Prometheus scrape config, alert rules and Grafana
dashboard, checked with Debian's ``promtool`` and run by Debian's ``prometheus`` against the live
stack. Both come from ``make prometheus`` (apt-get install prometheus); the suite never downloads
them, and fails (skips nothing) when they are missing."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import ROOT

OBSERVABILITY = ROOT / "docker" / "observability"
SCRAPE_CONFIG = OBSERVABILITY / "prometheus.yml"
ALERT_RULES = OBSERVABILITY / "alerts.yml"
GRAFANA = OBSERVABILITY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "moderation.json"

# the metrics the service exports (moderation/observability/metrics.py, moderation/health/
# gauges.py; README, Observability): name -> kind
METRICS = {
    "moderation_uploads_total": "counter",
    "moderation_decisions_total": "counter",
    "moderation_decision_latency_seconds": "histogram",
    "moderation_inference_batch_size": "histogram",
    "moderation_inference_seconds": "histogram",
    "moderation_model_calls_total": "counter",
    "moderation_queue_depth": "gauge",
    "moderation_outbox_pending": "gauge",
    "moderation_outbox_sent_total": "counter",
    "moderation_review_queue_items": "gauge",
    "moderation_failed_total": "counter",
    "moderation_webhook_deliveries_total": "counter",
    "moderation_engine_up": "gauge",
    "moderation_http_requests_total": "counter",
    "moderation_http_request_duration_seconds": "histogram",
}


def series_names() -> set[str]:
    """Every series name the metrics above put on a /metrics page."""
    names = set()
    for name, kind in METRICS.items():
        names.add(name)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def debian_tool(name: str) -> str:
    """``prometheus`` or ``promtool`` on PATH, or a failure that says how to install them."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"no `{name}` on PATH: run `make prometheus` (apt-get install Debian's prometheus, "
            "which brings promtool) first",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def promtool() -> str:
    """Debian's promtool."""
    return debian_tool("promtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """Debian's prometheus server."""
    return debian_tool("prometheus")
