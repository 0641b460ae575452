"""``moderation standalone`` on a bare machine: embedded services, demo model, Ctrl-C stops all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from moderation.standalone import VLLM_PID_FILE
from tests.support import images
from tests.support.processes import ROOT, free_port, wait_for_status


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen[bytes], log: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            raise AssertionError(f"standalone exited early:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")


def _engine_status(url: str) -> str | None:
    try:
        return str(httpx.get(f"{url}/healthz", timeout=5).json()["engine"].get("status"))
    except httpx.HTTPError:
        return None


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _vllm_server(tmp_path: Path) -> int | None:
    """The process group of the vLLM server standalone runs now (None once it is gone)."""
    pid_file = tmp_path / "var" / VLLM_PID_FILE
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text())
    return pid if Path(f"/proc/{pid}").exists() else None


@pytest.mark.parametrize("engine", ["local", "vllm"])
def test_standalone_runs_the_whole_service_and_stops_on_ctrl_c(tmp_path: Path, engine: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env.update(
        MODERATION_DATA_DIR=str(tmp_path / "var"),
        MODERATION_POLICIES_DIR=str(ROOT / "policies"),
        MODERATION_ENGINE_URL=f"http://127.0.0.1:{free_port()}/v1",
        MODERATION_VLLM_ARGS="--enforce-eager",  # starts in half the time
    )
    port = free_port()
    log = tmp_path / "standalone.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "moderation.cli",
                "standalone",
                "--port",
                str(port),
                "--engine",
                engine,
            ],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        key = _wait_for(
            lambda: (
                (m := re.search(r"API key \(dev\)\s+(mod_\S+)", log.read_text())) and m.group(1)
            ),
            120,
            "the banner",
            proc,
            log,
        )
        assert "RANDOM-WEIGHT" in log.read_text()
        # the demo picks a profile and says which
        assert "Model profile    generic (auto: not a LlavaGuard checkpoint)" in log.read_text()
        url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _healthy(url), 60, "the API", proc, log)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as c:
            created = c.post(
                "/v1/moderations", files={"image": ("p.jpg", images.jpeg(), "image/jpeg")}
            )
            assert created.status_code == 202, created.text
            body = wait_for_status(c, created.json()["id"], ("decided", "failed"), timeout=300)
            assert body["status"] == "decided", body
            assert "RANDOM WEIGHTS" in body["decision"]["model"]["id"]
            assert body["decision"]["model"]["engine"] == engine
            assert body["decision"]["model"]["profile"] == "generic"
            if engine == "vllm":  # a server that dies (its whole group) is started again
                server = _vllm_server(tmp_path)
                assert server is not None
                os.killpg(server, signal.SIGKILL)
                _wait_for(
                    lambda: _vllm_server(tmp_path) not in (None, server),
                    30,
                    "a new server",
                    proc,
                    log,
                )
                _wait_for(lambda: _engine_status(url) == "ok", 300, "vLLM again", proc, log)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        proc.wait(timeout=60)
    assert not (tmp_path / "var" / "pg" / "postmaster.pid").exists(), "postgres still running"
    leftovers = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", f"processes left behind: {leftovers.stdout}"
    if engine == "vllm":
        server = int((tmp_path / "var" / VLLM_PID_FILE).read_text())
        found = subprocess.run(["pgrep", "-g", str(server)], capture_output=True, text=True)
        assert found.stdout.strip() == "", f"vLLM processes left behind: {found.stdout}"
