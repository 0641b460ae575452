"""Real processes for the suite: the API over HTTP, Celery workers as separate processes."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parents[2]
BATCH_LINE = re.compile(r"moderating a batch of (\d+) submissions")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ApiServer:
    """A running API: its base URL."""

    url: str

    def client(self, key: str | None = None) -> httpx.Client:
        """An HTTP client, authenticated when ``key`` is given."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def start_api(settings: Any = None, **app_kwargs: Any) -> Iterator[ApiServer]:
    """uvicorn serving ``create_app()`` (settings from the environment) in a thread."""
    from moderation.api.app import create_app
    from moderation.config import Settings

    port = free_port()
    app = create_app(settings or Settings(), **app_kwargs)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("API did not start")
        time.sleep(0.05)
    try:
        yield ApiServer(f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class WorkerProcess:
    """``moderation worker`` as a separate OS process, with its log in a file."""

    def __init__(self, log_path: Path, env: dict[str, str], queues: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moderation.cli", "worker", "--queues", queues],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        """Everything the worker printed so far."""
        return self.log_path.read_text(errors="replace")

    def batch_sizes(self) -> list[int]:
        """The size of every batch the worker has handed to the moderation flow so far."""
        return [int(n) for n in BATCH_LINE.findall(self.log())]

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def wait_for_log(self, needle: str, timeout: float = 120, count: int = 1) -> None:
        """Block until ``needle`` appears ``count`` times in the log (or fail)."""
        deadline = time.monotonic() + timeout
        while self.log().count(needle) < count:
            if not self.alive():
                raise RuntimeError(f"worker exited:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {needle!r} in worker log:\n{self.log()[-4000:]}")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the worker (and its children)."""
        if self.alive():
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


@contextmanager
def start_worker(
    log_path: Path, model: Path | str, queues: str = "inference", **env: str
) -> Iterator[WorkerProcess]:
    """A ready worker serving ``model`` with the suite's environment (plus ``env``)."""
    full_env = {**os.environ, "MODERATION_MODEL": str(model), **env}
    worker = WorkerProcess(log_path, full_env, queues)
    try:
        worker.wait_for_log(" ready.")
        yield worker
    finally:
        worker.stop()


def wait_for_status(
    client: httpx.Client, moderation_id: str, statuses: tuple[str, ...], timeout: float = 60
) -> dict[str, Any]:
    """Poll GET /v1/moderations/{id} until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/moderations/{moderation_id}").json()
        if body.get("status") in statuses:
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"moderation {moderation_id} still {body.get('status')}: {body}")
        time.sleep(0.1)
