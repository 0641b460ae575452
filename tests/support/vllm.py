"""A real vLLM server for the tests: ``moderation engine serve`` in its own process group."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from moderation.inference.vllm_server import ServeOptions, spawn_serve, wait_until_serving
from tests.support.processes import WorkerProcess, start_worker

# vLLM on this CPU starts in ~30 s eager (~60 s compiling its graphs); a busy CI machine is slower
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
        options = ServeOptions(model=str(self.checkpoint), port=self.port, dtype="float32")
        # no graph compilation: it starts in half the time
        self.proc = spawn_serve(options, self.log_path, ("--enforce-eager",))
        wait_until_serving(self.proc, self.url, self.log_path, START_TIMEOUT_S)

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


@contextmanager
def start_served_worker(
    log_path: Path, server: VllmServer, queues: str, **env: str
) -> Iterator[WorkerProcess]:
    """A worker with ``MODERATION_ENGINE=vllm`` pointed at ``server``: no model, threads pool."""
    with start_worker(
        log_path,
        server.checkpoint,
        queues=queues,
        options=["--pool", "threads", "--concurrency", "2"],
        MODERATION_ENGINE="vllm",
        MODERATION_ENGINE_URL=server.url,
        **env,
    ) as worker:
        yield worker
