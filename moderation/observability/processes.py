"""Where a process's metrics are counted: prometheus-client's multiprocess mode for commands
that run several processes (``serve --workers N``, a prefork pool, ``standalone``'s children).

Kept apart from ``metrics`` (which makes the metric objects when imported): the mode must be
chosen before prometheus-client makes any value."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess_dir() -> str:
    """Count in multiprocess mode in this process and its children: a fresh directory (removed
    at exit by the process that made it) unless a parent gave one; its path."""
    if "moderation.observability.metrics" in sys.modules and not os.environ.get(MULTIPROC_ENV):
        raise RuntimeError("metrics were made before the multiprocess mode was chosen")
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        return path
    path = tempfile.mkdtemp(prefix="moderation-metrics-")
    os.environ[MULTIPROC_ENV] = path
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    if "prometheus_client.values" in sys.modules:  # imported by a library: choose again
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return path
