"""Debian's ``prometheus`` scrapes the live stack with the project's scrape config: the API
(``moderation serve --workers 2``: every uvicorn worker process on one /metrics page), a real
inference worker and the outbox relay (each on ``MODERATION_METRICS_PORT``), the way compose runs
them. The decisions the stack made read back through Prometheus's query API, the alert rules
load and every dashboard query runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT
from tests.observability.conftest import SCRAPE_CONFIG, series_names
from tests.observability.queries import alert_rules, dashboard_queries
from tests.support import images
from tests.support.processes import (
    ApiProcess,
    WorkerProcess,
    free_port,
    start_api_process,
    start_worker,
    stop_process,
    wait_for_status,
)
from tests.support.services import RestartableRedis

SCRAPE_INTERVAL_S = 1
SERVICE_JOBS = ("api", "workers", "relay")


def live_scrape_config(targets: Mapping[str, list[str]]) -> dict[str, Any]:
    """docker/observability/prometheus.yml for this test: each job's service discovery replaced
    by ``targets[job]`` (job names, metrics paths and relabelling kept), the rule files by their
    paths in the repository, and a 1-second scrape and evaluation interval."""
    config: dict[str, Any] = yaml.safe_load(SCRAPE_CONFIG.read_text())
    config["global"].update(
        scrape_interval=f"{SCRAPE_INTERVAL_S}s",
        scrape_timeout=f"{SCRAPE_INTERVAL_S}s",
        evaluation_interval=f"{SCRAPE_INTERVAL_S}s",
    )
    config["rule_files"] = [str(SCRAPE_CONFIG.parent / f) for f in config["rule_files"]]
    for job in config["scrape_configs"]:
        name = job["job_name"]
        assert name in targets, f"job {name} of the scrape config has no live target"
        for key in [k for k in job if k.endswith("_sd_configs") or k == "static_configs"]:
            del job[key]
        job["static_configs"] = [{"targets": targets[name]}]
    return config


@dataclass
class Prometheus:
    """A running prometheus: its HTTP API."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>: its ``data`` (the answer must be a success)."""
        answer = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = answer.json()
        assert answer.status_code == 200 and body["status"] == "success", (path, params, body)
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {...}, "value": [t, "v"]}]."""
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", data
        return data["result"]  # type: ignore[no-any-return]

    def by(self, promql: str, *labels: str) -> dict[tuple[str, ...], float]:
        """A query's values keyed by the given labels' values."""
        return {
            tuple(row["metric"].get(label, "") for label in labels): float(row["value"][1])
            for row in self.query(promql)
        }

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@contextmanager
def start_prometheus(
    binary: str, base: Path, targets: dict[str, list[str]]
) -> Iterator[Prometheus]:
    """Debian's prometheus on a free loopback port, with the live scrape config, a fresh TSDB."""
    port = free_port()
    address = f"127.0.0.1:{port}"
    base.mkdir(parents=True, exist_ok=True)
    config_path = base / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(live_scrape_config({**targets, "prometheus": [address]})))
    log_path = base / "prometheus.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={base / 'tsdb'}",
                f"--web.listen-address={address}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = Prometheus(f"http://{address}", proc, log_path)
        try:
            _wait_until(
                lambda: _ready(server.url), 30, lambda: f"prometheus not ready:\n{server.log()}"
            )
            yield server
        finally:
            stop_process(proc)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait_until(done: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(why())
        time.sleep(0.2)


@contextmanager
def start_relay(log_path: Path, env: Mapping[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``moderation relay`` as its own process (as compose runs it), running."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moderation.cli", "relay"],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def running() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"relay exited:\n{log_path.read_text(errors='replace')}")
                return "outbox relay running" in log_path.read_text(errors="replace")

            _wait_until(running, 60, lambda: log_path.read_text(errors="replace")[-4000:])
            yield proc
        finally:
            stop_process(proc)


@dataclass
class LiveStack:
    """The API, a worker and the relay of this module, scraped by ``prometheus``."""

    api: ApiProcess
    worker: WorkerProcess
    prometheus: Prometheus
    key: str


@pytest.fixture(scope="module")
def stack(
    make_db: Callable[[], str],
    checkpoints: dict[str, Path],
    prometheus_binary: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveStack]:
    """A database and a broker of this module's own (nothing else publishes to its queues or
    counts in its metrics); ``moderation serve --workers 2`` without the relay thread, a
    ``moderation relay`` and a ``moderation worker`` (tiny LLaVA), the worker and the relay with
    MODERATION_METRICS_PORT, as in docker-compose.yml; prometheus scraping all three."""
    from moderation.admin import create_tenant_key

    base = tmp_path_factory.mktemp("observability")
    with ExitStack() as stack:
        db = make_db()
        redis = RestartableRedis(stack)
        env = {
            "MODERATION_DATABASE_URL": db,
            "MODERATION_BROKER_URL": redis.url,
            "MODERATION_DATA_DIR": str(base / "data"),
            "MODERATION_RATE_LIMIT": "",
        }

        def own_metrics_dir(name: str) -> dict[str, str]:
            """A process's multiprocess-mode directory of its own, as in its own container
            (one inherited from this process would add up the others' counts too)."""
            path = base / "metrics" / name
            path.mkdir(parents=True)
            return {"PROMETHEUS_MULTIPROC_DIR": str(path)}

        api = stack.enter_context(
            start_api_process(
                base / "api.log",
                ["--workers", "2"],
                **env,
                **own_metrics_dir("api"),
                MODERATION_RELAY_IN_API="false",
            )
        )
        relay_port, worker_port = free_port(), free_port()
        stack.enter_context(
            start_relay(
                base / "relay.log",
                {**env, **own_metrics_dir("relay"), "MODERATION_METRICS_PORT": str(relay_port)},
            )
        )
        worker = stack.enter_context(
            start_worker(
                base / "worker.log",
                checkpoints["llava"],
                stack_env={**env, **own_metrics_dir("worker")},
                MODERATION_METRICS_PORT=str(worker_port),
            )
        )
        targets = {
            "api": [api.url.removeprefix("http://")],
            "workers": [f"127.0.0.1:{worker_port}"],
            "relay": [f"127.0.0.1:{relay_port}"],
        }
        prometheus = stack.enter_context(
            start_prometheus(prometheus_binary, base / "prometheus", targets)
        )
        key = create_tenant_key(db, f"observability-{uuid.uuid4().hex[:8]}")
        yield LiveStack(api, worker, prometheus, key)


def _targets_up(prometheus: Prometheus) -> dict[str, list[dict[str, Any]]]:
    """Job -> its active targets, once every target of the service's jobs was scraped."""
    jobs: dict[str, list[dict[str, Any]]] = {}

    def scraped() -> bool:
        jobs.clear()
        for target in prometheus.api("targets", state="active")["activeTargets"]:
            jobs.setdefault(target["labels"]["job"], []).append(target)
        return all(t["health"] != "unknown" for ts in jobs.values() for t in ts) and all(
            job in jobs for job in SERVICE_JOBS
        )

    _wait_until(scraped, 30, lambda: f"not every target scraped yet: {jobs}")
    return jobs


def test_prometheus_scrapes_the_api_the_worker_and_the_relay(stack: LiveStack) -> None:
    jobs = _targets_up(stack.prometheus)
    paths = {
        job["job_name"]: job.get("metrics_path", "/metrics")
        for job in yaml.safe_load(SCRAPE_CONFIG.read_text())["scrape_configs"]
    }
    assert sorted(jobs) == sorted(paths)
    down = {
        f"{job} {t['scrapeUrl']}": t["lastError"]
        for job, ts in jobs.items()
        for t in ts
        if t["health"] != "up"
    }
    assert not down, f"targets not scraped (GET /metrics failed): {down}"
    for job in SERVICE_JOBS:
        (target,) = jobs[job]
        assert httpx.URL(target["scrapeUrl"]).path == paths[job] == "/metrics", target
    assert stack.worker.alive()


@dataclass(frozen=True)
class Made:
    """What the test did through the API: every decision as (action, source), the uploads."""

    decisions: Counter[tuple[str, str]]
    uploads: int


@pytest.fixture(scope="module")
def made(stack: LiveStack) -> Made:
    """Three images decided by the model, one of them uploaded again (decided from the verdict
    cache) and one decided again by the platform's reviewer (POST …/review): five decisions."""
    decisions: Counter[tuple[str, str]] = Counter()
    uploads = [images.png(40 + n, 36, seed=300 + n) for n in range(3)]
    ids = []
    with stack.api.client(stack.key) as client:
        for n, data in enumerate([*uploads, uploads[0]]):
            created = client.post(
                "/v1/moderations", files={"image": (f"metrics-{n}.png", data, "image/png")}
            )
            assert created.status_code == 202, created.text
            body = wait_for_status(client, created.json()["id"], ("decided", "failed"), 120)
            assert body["status"] == "decided", body
            decision = body["decision"]
            decisions[(decision["action"], decision["source"])] += 1
            ids.append(body["id"])
        reviewed = client.post(
            f"/v1/moderations/{ids[1]}/review",
            json={"action": "allow", "note": "checked by the metrics test"},
        )
        assert reviewed.status_code == 200, reviewed.text
        assert reviewed.json()["decision"]["decided_by"] == "reviewer"
        decisions[("allow", "reviewer")] += 1
    assert sorted(source for _, source in decisions.elements()) == [
        "cache",
        "model",
        "model",
        "model",
        "reviewer",
    ]
    return Made(decisions, uploads=4)


def _decisions(prometheus: Prometheus) -> dict[tuple[str, ...], float]:
    """moderation_decisions_total by job, action and source."""
    query = "sum by (job, action, source) (moderation_decisions_total)"
    return prometheus.by(query, "job", "action", "source")


def test_the_decisions_made_read_back_through_prometheus(stack: LiveStack, made: Made) -> None:
    prometheus = stack.prometheus
    expected = sum(made.decisions.values())

    def counted() -> bool:
        found = prometheus.query("sum(moderation_decisions_total)")
        return bool(found) and float(found[0]["value"][1]) == expected

    _wait_until(
        counted,
        30,
        lambda: f"sum(moderation_decisions_total) is not {expected}: {_decisions(prometheus)}",
    )
    (total,) = prometheus.query("sum(moderation_decisions_total)")
    assert float(total["value"][1]) == expected == 5
    by_action = prometheus.by(
        "sum by (action, source) (moderation_decisions_total)", "action", "source"
    )
    assert by_action == {key: float(n) for key, n in made.decisions.items()}
    # the worker counts what it decided, the API what a reviewer decided
    by_job = prometheus.by("sum by (job, source) (moderation_decisions_total)", "job", "source")
    assert by_job == {
        ("workers", "model"): 3.0,
        ("workers", "cache"): 1.0,
        ("api", "reviewer"): 1.0,
    }
    (uploads,) = prometheus.query("sum(moderation_uploads_total)")
    assert float(uploads["value"][1]) == made.uploads


def test_the_stack_exports_the_metrics_the_dashboard_reads(stack: LiveStack, made: Made) -> None:
    """After a few decisions, the series of the flow exist (the labelled ones with nothing to
    count yet, such as failures, are absent until the first)."""
    prometheus = stack.prometheus
    names = set(prometheus.api("label/__name__/values"))
    for name in (
        "moderation_uploads_total",
        "moderation_decisions_total",
        "moderation_decision_latency_seconds_bucket",
        "moderation_inference_batch_size_bucket",
        "moderation_inference_seconds_bucket",
        "moderation_model_calls_total",
        "moderation_queue_depth",
        "moderation_outbox_pending",
        "moderation_outbox_sent_total",
        "moderation_review_queue_items",  # the tiny model's verdicts ask for review
        "moderation_engine_up",
        "moderation_http_requests_total",
        "moderation_http_request_duration_seconds_bucket",
    ):
        assert name in names, f"no {name} scraped: {sorted(n for n in names if 'moderation' in n)}"
    assert {n for n in names if n.startswith("moderation_")} <= series_names()
    # the system-wide gauges come from the API only
    for gauge in (
        "moderation_queue_depth",
        "moderation_outbox_pending",
        "moderation_review_queue_items",
    ):
        assert {job for (job,) in prometheus.by(gauge, "job")} == {"api"}, gauge
    # the relay sent the four uploads' inference tasks (at least)
    (sent,) = prometheus.query('sum(moderation_outbox_sent_total{job="relay"})')
    assert float(sent["value"][1]) >= made.uploads
    # the batches held the three images the model saw (the cached re-upload needed none)
    (batches,) = prometheus.query("sum(moderation_inference_batch_size_sum)")
    assert float(batches["value"][1]) == 3


def test_the_alert_rules_load_and_every_dashboard_query_runs(stack: LiveStack, made: Made) -> None:
    prometheus = stack.prometheus
    rules: dict[str, dict[str, Any]] = {}

    def evaluated() -> bool:
        rules.clear()
        for group in prometheus.api("rules", type="alert")["groups"]:
            rules.update({rule["name"]: rule for rule in group["rules"]})
        return bool(rules) and all(rule["health"] != "unknown" for rule in rules.values())

    _wait_until(evaluated, 30, lambda: f"alert rules not evaluated: {rules}")
    assert set(rules) == set(alert_rules())
    assert {name: r["health"] for name, r in rules.items() if r["health"] != "ok"} == {}
    firing = {name for name, r in rules.items() if r["state"] == "firing"}
    assert not firing, "a healthy stack fires no alert"
    queries = dashboard_queries()
    for expr in queries.values():
        prometheus.query(expr)  # a success (an error would fail here), data or not
    (p99,) = [e for e in queries.values() if "0.99" in e and "decision_latency" in e]
    assert prometheus.query(p99), "the dashboard's decision latency panel has data"
