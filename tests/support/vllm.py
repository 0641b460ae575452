"""A real vLLM server for the tests: ``moderation engine serve`` in its own process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import ROOT

# vLLM on this CPU starts in 45-90 s (it compiles its graphs); a busy CI machine takes longer
START_TIMEOUT_S = 420


class VllmServer:
    """``moderation engine serve --model CHECKPOINT`` on a fixed port: started, killed (as a
    crash would), started again on the same port."""

    def __init__(self, checkpoint: Path, port: int, log_dir: Path) -> None:
        self.checkpoint, self.port, self.log_dir = checkpoint, port, log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The OpenAI API base URL (MODERATION_ENGINE_URL)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        """The log of the latest start."""
        return self.log_dir / f"vllm-{self.starts}.log"

    def start(self) -> None:
        """Start the server and wait until it lists its model."""
        self.starts += 1
        command = [sys.executable, "-m", "moderation.cli", "engine", "serve"]
        command += ["--model", str(self.checkpoint), "--port", str(self.port), "--dtype", "float32"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM exited:\n{self.log_path.read_text()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"vLLM did not start:\n{self.log_path.read_text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the server and its engine processes: no goodbye to anyone."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
