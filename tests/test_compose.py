"""docker-compose.yml stays valid and in step with the CLI it calls."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    cmd, env = _compose_command(tmp_path_factory.mktemp("compose"))
    result = subprocess.run(
        [*cmd, "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


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
