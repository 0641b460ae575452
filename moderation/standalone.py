"""``moderation standalone``: the whole service on one machine, stopped together by Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from moderation.admin import create_tenant_key, migrate, sync_policy_files
from moderation.config import Settings
from moderation.embedded import ensure_services
from moderation.inference.profiles import choose_profile
from moderation.inference.resolve import DEMO_WARNING, resolve_model
from moderation.inference.vllm_server import DEFAULT_PORT

log = logging.getLogger(__name__)
DEV_TENANT = "dev"
VLLM_PID_FILE = "vllm-server.pid"


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "moderation.cli", *args], env=env)


class Supervised:
    """A child in a process group of its own, started again whenever it exits (the inference
    server: the workers wait for it meanwhile, and nothing they hold is lost); stopping it stops
    its whole group (vLLM's engine processes too)."""

    def __init__(self, args: list[str], env: dict[str, str], pid_file: Path) -> None:
        self.args, self.env, self.pid_file = args, env, pid_file
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "moderation.cli", *self.args]
        proc = subprocess.Popen(command, env=self.env, start_new_session=True)
        self.pid_file.write_text(f"{proc.pid}\n")  # its process group, for operators
        return proc

    def check(self) -> None:
        """Start the child again if it exited (its group is cleared first)."""
        if self.proc.poll() is not None:
            log.error("%s exited with %s; starting it again", self.args[:2], self.proc.returncode)
            self._signal(signal.SIGKILL)
            self.proc = self._start()

    def stop(self) -> None:
        """SIGTERM to the group, SIGKILL after 30 s."""
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait()

    def _signal(self, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def _banner(url: str, key: str, model: str, demo: bool, engine: str, profile: str) -> str:
    lines = [
        "",
        f"  Moderation API   {url}   (docs: {url}/docs)",
        f"  API key (dev)    {key}",
        f"  Model            {model}{'   [RANDOM-WEIGHT DEMO]' if demo else ''}",
        f"  Model profile    {profile}",
        f"  Engine           {engine}",
        "",
        f"  curl -H 'Authorization: Bearer {key}' -F image=@photo.jpg {url}/v1/moderations",
        "",
        "  Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def _engine_children(
    settings: Settings, model: str, env: dict[str, str], data_dir: Path
) -> list[Supervised]:
    """With ``vllm``: the inference server on the port of MODERATION_ENGINE_URL, supervised
    (its process group's id in ``DATA_DIR/vllm-server.pid``), and the workers pointed at it."""
    if settings.engine != "vllm":
        return []
    port = urlsplit(settings.engine_url).port or DEFAULT_PORT
    env.update(MODERATION_ENGINE="vllm", MODERATION_ENGINE_URL=f"http://127.0.0.1:{port}/v1")
    serve = ["engine", "serve", "--model", model, "--port", str(port), "--dtype", settings.dtype]
    return [Supervised(serve, env, data_dir / VLLM_PID_FILE)]


def run_standalone(settings: Settings, host: str, port: int) -> int:
    """Start services, prepare the database, run API + workers (+ the vLLM server with
    MODERATION_ENGINE=vllm) until interrupted; exit status."""
    data_dir = settings.data_dir.resolve()
    with ExitStack() as stack:
        services = ensure_services(data_dir, settings.database_url, settings.broker_url, stack)
        migrate(services.database_url)
        for r in sync_policy_files(services.database_url, settings.policies_dir):
            log.info("policy %s: %s", r.slug, r.version)
        key = create_tenant_key(services.database_url, DEV_TENANT, existing_ok=True)
        model, demo = resolve_model(settings)
        env = {
            **os.environ,
            "MODERATION_DATABASE_URL": services.database_url,
            "MODERATION_BROKER_URL": services.broker_url,
            "MODERATION_DATA_DIR": str(data_dir),
            "MODERATION_MODEL": model,
            "MODERATION_POLICIES_DIR": str(settings.policies_dir.resolve()),
        }
        supervised = _engine_children(settings, model, env, data_dir)
        for server in supervised:
            stack.callback(server.stop)
        # with vLLM the inference worker holds no model: batches run side by side in threads
        pool = ["--pool", "threads", "--concurrency", "4"] if supervised else []
        children = [
            _spawn(["serve", "--host", host, "--port", str(port)], env),
            _spawn(["worker", "--queues", "inference,maintenance", "--beat", *pool], env),
            _spawn(
                ["worker", "--queues", "webhooks", "--pool", "threads", "--concurrency", "4"], env
            ),
            # backtests get their own worker so that they never delay live moderation
            _spawn(["worker", "--queues", "backtest", *pool], env),
        ]
        stack.callback(_stop, children)
        if demo:
            print(f"WARNING: {DEMO_WARNING}", file=sys.stderr)
        engine = env.get("MODERATION_ENGINE_URL", "local") if supervised else "local"
        chosen = choose_profile(settings.model_profile, [model])
        profile = f"{chosen.name} ({chosen.reason})"
        print(_banner(f"http://{host}:{port}", key, model, demo, engine, profile), flush=True)
        return _wait(children, supervised)
    return 0


def _wait(children: list[subprocess.Popen[bytes]], supervised: list[Supervised]) -> int:
    """Block until Ctrl-C/SIGTERM or until a child exits (a supervised one is restarted)."""
    stopping = False

    def _on_signal(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    try:
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    log.error("a service process exited with %s; stopping", child.returncode)
                    return 1
            for server in supervised:
                server.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    return 0
