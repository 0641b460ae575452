"""The committed scrape config, alert rules and dashboard: valid for Debian's promtool, the
rules fire on the trouble they name (``promtool test rules``), and every query reads the
service's metrics."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.observability.conftest import (
    ALERT_RULES,
    GRAFANA,
    METRICS,
    SCRAPE_CONFIG,
    series_names,
)
from tests.observability.queries import (
    alert_rules,
    dashboard,
    dashboard_queries,
    metric_names,
    panels,
)

HERE = Path(__file__).resolve().parent


def _promtool(promtool: str, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_the_scrape_config_passes_promtool(promtool: str) -> None:
    output = _promtool(promtool, "check", "config", str(SCRAPE_CONFIG))
    assert "1 rule files found" in output  # alerts.yml, beside it


def test_the_alert_rules_pass_promtool(promtool: str) -> None:
    output = _promtool(promtool, "check", "rules", str(ALERT_RULES))
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_each_alert_fires_on_its_trouble_and_only_then(promtool: str) -> None:
    """tests/observability/alerts_test.yml: synthetic series, expected alerts and texts."""
    output = _promtool(promtool, "test", "rules", "alerts_test.yml", cwd=HERE)
    assert "SUCCESS" in output
    tested = {
        case["alertname"]
        for test in yaml.safe_load((HERE / "alerts_test.yml").read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert tested == set(alert_rules()), "every alert has a case where it fires"


def test_the_alerts_the_issue_asks_for_exist() -> None:
    rules = alert_rules()
    assert {
        "ModerationQueueGrowing",
        "ModerationEngineDown",
        "ModerationFailureRateHigh",
        "ModerationWebhookDeliveriesFailing",
    } <= set(rules)
    assert rules["ModerationQueueGrowing"]["for"] == "10m"
    assert "> 0.01" in rules["ModerationFailureRateHigh"]["expr"]
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_the_rules_and_dashboard_read_only_the_service_metrics() -> None:
    known = series_names()
    exprs = {**dashboard_queries(), **{n: r["expr"] for n, r in alert_rules().items()}}
    for where, expr in exprs.items():
        assert metric_names(expr) <= known, f"{where}: {metric_names(expr) - known}"


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule): Grafana would show an error panel."""
    queries = dashboard_queries()
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(queries.values())]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _promtool(promtool, "check", "rules", str(path))


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    board = dashboard()
    assert board["uid"] == "moderation"  # http://localhost:3000/d/moderation (README)
    read = set().union(*(metric_names(e) for e in dashboard_queries().values()))
    for wanted in (
        "moderation_uploads_total",  # throughput
        "moderation_decisions_total",
        "moderation_decision_latency_seconds_bucket",  # p50/p99
        "moderation_queue_depth",
        "moderation_inference_batch_size_bucket",
        "moderation_failed_total",
        "moderation_webhook_deliveries_total",
        "moderation_review_queue_items",
    ):
        assert wanted in read, wanted
    decisions = [e for e in dashboard_queries().values() if "moderation_decisions_total" in e]
    assert any("by (action, source)" in e for e in decisions)
    latency = [e for e in dashboard_queries().values() if "decision_latency" in e]
    assert any("histogram_quantile(0.5," in e for e in latency)
    assert any("histogram_quantile(0.99," in e for e in latency)
    shown = {re.sub(r"_(bucket|sum|count)$", "", name) for name in read}
    assert shown == set(METRICS), "every metric of the service is on the dashboard"


def test_grafana_provisions_the_data_source_the_dashboard_names() -> None:
    (source,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert (source["type"], source["url"], source["isDefault"]) == (
        "prometheus",
        "http://prometheus:9090",
        True,
    )
    for panel in panels(dashboard()):
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == source["uid"], panel["title"]
    (provider,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "moderation.yml").read_text()
    )["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"  # compose mounts it


@pytest.mark.parametrize("panel", panels(dashboard()), ids=lambda p: p["title"])
def test_every_panel_has_a_query_and_a_unit(panel: dict) -> None:  # type: ignore[type-arg]
    assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
    assert panel["fieldConfig"]["defaults"]["unit"]
