"""The PromQL of the committed dashboard and alert rules, for the tests to check and run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.observability.conftest import ALERT_RULES, DASHBOARD

METRIC = re.compile(r"\bmoderation_[a-z_]+\b")
# Grafana's variables, with a value Prometheus accepts where the dashboard is not in Grafana
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def dashboard() -> dict[str, Any]:
    """The committed dashboard."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of the dashboard (those of collapsed rows included), rows left out."""
    found = []
    for panel in board["panels"]:
        found += panel.get("panels", [])
        if panel["type"] != "row":
            found.append(panel)
    return found


def dashboard_queries() -> dict[str, str]:
    """``"panel title / refId"`` -> the PromQL, with Grafana's variables filled in."""
    queries = {}
    for panel in panels(dashboard()):
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            queries[f"{panel['title']} / {target['refId']}"] = expr
    return queries


def alert_rules(path: Path = ALERT_RULES) -> dict[str, dict[str, Any]]:
    """Alert name -> its rule."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def metric_names(expr: str) -> set[str]:
    """The service's metric (series) names an expression reads."""
    return set(METRIC.findall(expr))
