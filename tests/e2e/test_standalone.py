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


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_standalone_runs_the_whole_service_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env.update(
        MODERATION_DATA_DIR=str(tmp_path / "var"), MODERATION_POLICIES_DIR=str(ROOT / "policies")
    )
    port = free_port()
    log = tmp_path / "standalone.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moderation.cli", "standalone", "--port", str(port)],
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
        url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: _healthy(url), 60, "the API", proc, log)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as c:
            created = c.post(
                "/v1/moderations", files={"image": ("p.jpg", images.jpeg(), "image/jpeg")}
            )
            assert created.status_code == 202, created.text
            body = wait_for_status(c, created.json()["id"], ("decided", "failed"), timeout=90)
        assert body["status"] == "decided", body
        assert "RANDOM WEIGHTS" in body["decision"]["model"]["id"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        proc.wait(timeout=60)
    assert not (tmp_path / "var" / "pg" / "postmaster.pid").exists(), "postgres still running"
    leftovers = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", f"processes left behind: {leftovers.stdout}"
