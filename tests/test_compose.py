"""docker-compose.yml stays valid and in step with the CLI it calls."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from moderation.cli import main

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = (
    "migrate",
    "api",
    "relay",
    "worker-inference",
    "worker-backtest",
    "worker-maintenance",
    "worker-webhooks",
    "beat",
)


def _compose_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """``docker compose`` (the client, with the compose plugin from the dev extra if needed)."""
    bundled = Path(sys.executable).parent / "docker-compose"
    env = dict(os.environ)
    docker = shutil.which("docker")
    if docker is None:
        return [str(bundled)], env
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, env=env)
    if probe.returncode != 0:
        plugins = tmp_path / "docker-config" / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-compose").symlink_to(bundled)
        env["DOCKER_CONFIG"] = str(plugins.parent)
    return [docker, "compose"], env


def _config(tmp_path: Path, *profiles: str) -> dict:  # type: ignore[type-arg]
    """``docker compose [--profile P]... config`` as JSON (it must parse)."""
    cmd, env = _compose_command(tmp_path)
    selected = [arg for profile in profiles for arg in ("--profile", profile)]
    result = subprocess.run(
        [*cmd, "-f", str(ROOT / "docker-compose.yml"), *selected, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    return _config(tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def observability_config(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    """The stack with ``--profile observability``: Prometheus and Grafana."""
    return _config(tmp_path_factory.mktemp("compose-observability"), "observability")


def test_compose_has_every_service(compose_config: dict) -> None:  # type: ignore[type-arg]
    services = compose_config["services"]
    assert {"postgres", "redis", "vllm", *APP_SERVICES} <= set(services)
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert "gpu" in gpu["capabilities"]
    for worker in ("worker-inference", "worker-backtest"):
        assert "deploy" not in services[worker]  # they hold no model
        assert services[worker]["environment"]["MODERATION_ENGINE"] == "vllm"
        assert services[worker]["environment"]["MODERATION_ENGINE_URL"] == "http://vllm:8000/v1"
    assert services["worker-inference"]["command"][3] == "inference"  # never `backtest`
    assert services["api"]["environment"]["MODERATION_RELAY_IN_API"] == "false"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_commands_exist_in_the_cli(compose_config: dict, service: str) -> None:  # type: ignore[type-arg]
    command = compose_config["services"][service]["command"]
    if command[:2] == ["sh", "-c"]:
        invocations = [part.split() for part in command[2].split("&&")]
    else:
        invocations = [command]
    for argv in invocations:
        assert argv[0] == "moderation"
        result = CliRunner().invoke(main, [*argv[1:], "--help"])
        assert result.exit_code == 0, f"{service}: {' '.join(argv)}: {result.output}"


def _flags(argv: list[str]) -> dict[str, str | None]:
    """``--flag value`` pairs, and bare ``--flag``s (None)."""
    flags: dict[str, str | None] = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            following = argv[i + 1] if i + 1 < len(argv) else "--"
            flags[arg] = None if following.startswith("--") else following
    return flags


def test_compose_serves_vllm_with_the_flags_of_engine_serve(compose_config: dict) -> None:  # type: ignore[type-arg]
    from moderation.inference.vllm_server import ServeOptions, serve_command

    vllm = compose_config["services"]["vllm"]
    expected = serve_command(Path("python3"), ServeOptions(model="M"), cpu=False)
    assert vllm["entrypoint"] == expected[:3]
    flags, given = _flags(expected[3:]), _flags(vllm["command"])
    for flag, value in flags.items():
        if flag not in ("--model", "--host", "--port"):
            assert given.get(flag) == value, flag
    assert given["--port"] == "8000" and given["--host"] == "0.0.0.0"


# --- observability (issue #20): docs in README, Observability -----------------------------------
METRICS_SERVICES = (
    "relay",
    "worker-inference",
    "worker-backtest",
    "worker-maintenance",
    "worker-webhooks",
)


def test_observability_is_a_profile(compose_config: dict, observability_config: dict) -> None:  # type: ignore[type-arg]
    assert not {"prometheus", "grafana"} & set(compose_config["services"])
    services = observability_config["services"]
    assert set(services) == set(compose_config["services"]) | {"prometheus", "grafana"}
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")


def _mounts(service: dict) -> dict[str, Path]:  # type: ignore[type-arg]
    """Container path -> host path of a service's bind mounts (each committed in the repo)."""
    binds = {v["target"]: Path(v["source"]) for v in service["volumes"] if v["type"] == "bind"}
    for host in binds.values():
        assert host.exists() and host.is_relative_to(ROOT), host
    return binds


def test_prometheus_loads_the_committed_config_and_rules(observability_config: dict) -> None:  # type: ignore[type-arg]
    prometheus = observability_config["services"]["prometheus"]
    mounts = _mounts(prometheus)
    observability = ROOT / "docker" / "observability"
    config_file = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_path = config_file.removeprefix("--config.file=")
    assert mounts[config_path] == observability / "prometheus.yml"
    scrape = yaml.safe_load(mounts[config_path].read_text())
    # rule files resolve beside the config, in the container as in the repo
    for rule_file in scrape["rule_files"]:
        assert mounts[str(Path(config_path).parent / rule_file)] == observability / rule_file
    assert scrape["rule_files"] == ["alerts.yml"]


def _scraped(scrape: dict) -> dict[str, tuple[str, int, str]]:  # type: ignore[type-arg]
    """Compose service -> (job, port, metrics path) of the jobs that find them by DNS."""
    found = {}
    for job in scrape["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for name in sd["names"]:
                found[name] = (
                    job["job_name"],
                    int(sd["port"]),
                    job.get("metrics_path", "/metrics"),
                )
    return found


def test_prometheus_scrapes_the_api_every_worker_and_the_relay(observability_config: dict) -> None:  # type: ignore[type-arg]
    services = observability_config["services"]
    scrape = yaml.safe_load((ROOT / "docker" / "observability" / "prometheus.yml").read_text())
    scraped = _scraped(scrape)
    assert scraped["api"] == ("api", 8000, "/metrics")
    assert "--port" in services["api"]["command"]
    assert services["api"]["command"][services["api"]["command"].index("--port") + 1] == "8000"
    metrics_ports = {
        name: service["environment"]["MODERATION_METRICS_PORT"]
        for name, service in services.items()
        if "MODERATION_METRICS_PORT" in service.get("environment", {})
    }
    assert set(metrics_ports) == set(METRICS_SERVICES)
    for name, port in metrics_ports.items():
        job = "relay" if name == "relay" else "workers"
        assert scraped[name] == (job, int(port), "/metrics"), name
        assert port == "9100" and "9100" in services[name]["expose"]
    assert set(scraped) <= set(services), "every scraped name is a compose service"
    assert {"api", *METRICS_SERVICES} <= set(scraped)
    assert services["prometheus"]["ports"][0]["host_ip"] == "127.0.0.1"  # no authentication


def test_grafana_is_provisioned_from_the_repository(observability_config: dict) -> None:  # type: ignore[type-arg]
    grafana = observability_config["services"]["grafana"]
    mounts = _mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    assert provisioning == ROOT / "docker" / "observability" / "grafana" / "provisioning"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "moderation.yml").read_text())[
        "providers"
    ]
    dashboards = mounts[provider["options"]["path"]]
    assert (dashboards / "moderation.json").is_file()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/moderation.json"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    prometheus_port = observability_config["services"]["prometheus"]["ports"][0]["target"]
    assert source["url"] == f"http://prometheus:{prometheus_port}"
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert grafana["ports"][0]["host_ip"] == "127.0.0.1"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_the_services_log_json(compose_config: dict, service: str) -> None:  # type: ignore[type-arg]
    assert compose_config["services"][service]["environment"]["MODERATION_LOG_FORMAT"] == "json"
