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
from collections.abc import Iterator, Mapping, Sequence
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
    from moderation.app import create_app
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

    def __init__(
        self,
        log_path: Path,
        env: dict[str, str],
        queues: str,
        beat: bool = False,
        options: Sequence[str] = (),
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        command = [sys.executable, "-m", "moderation.cli", "worker", "--queues", queues, *options]
        self.proc = subprocess.Popen(
            [*command, "--beat"] if beat else command,
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
    log_path: Path,
    model: Path | str,
    queues: str = "inference",
    beat: bool = False,
    stack_env: Mapping[str, str] | None = None,
    options: Sequence[str] = (),
    **env: str,
) -> Iterator[WorkerProcess]:
    """A ready worker serving ``model`` with the suite's environment plus ``stack_env`` and
    ``env``; with ``beat`` it also runs the periodic sweep; ``options``: more CLI options."""
    full_env = {**os.environ, "MODERATION_MODEL": str(model), **(stack_env or {}), **env}
    worker = WorkerProcess(log_path, full_env, queues, beat, options)
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


@dataclass
class ApiProcess(ApiServer):
    """``moderation serve`` as a separate OS process (its memory can be measured)."""

    proc: subprocess.Popen[bytes]

    def rss_mb(self) -> float:
        """The process's resident memory now, in MiB (VmRSS)."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        (kb,) = re.findall(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(kb) / 1024


@contextmanager
def start_api_process(
    log_path: Path, options: Sequence[str] = (), **env: str
) -> Iterator[ApiProcess]:
    """``moderation serve`` on a free port with the suite's environment (plus ``env``);
    ``options``: more CLI options (``--workers 2``)."""
    port = free_port()
    full_env = {**os.environ, "MODERATION_ACCESS_LOG": "false", **env}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moderation.cli", "serve", "--port", str(port), *options],
            env=full_env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = ApiProcess(f"http://127.0.0.1:{port}", proc)
        try:
            _wait_until_serving(server, log_path)
            yield server
        finally:
            stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM, and SIGKILL if it has not exited within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_until_serving(server: ApiProcess, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=2) as client:
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(f"API exited:\n{log_path.read_text(errors='replace')[-4000:]}")
            try:
                client.get("/healthz")
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise TimeoutError("API did not start") from None
                time.sleep(0.1)
