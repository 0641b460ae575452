"""Real services for the suite: PostgreSQL, Redis (configured or embedded), tiny checkpoints."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from moderation.embedded import ensure_services
from moderation.storage.db import normalize_url
from tests.support.processes import ApiServer, start_api
from tests.support.seaweedfs import SeaweedS3

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Env:
    """Where the suite's services are."""

    database_url: str
    broker_url: str
    data_dir: Path


def _create_database(server_url: str, stack: ExitStack) -> str:
    """A fresh database on the server, dropped at the end of the session."""
    name = f"moderation_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    stack.callback(drop)
    url = make_url(normalize_url(server_url)).set(database=name)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """Postgres + Redis: MODERATION_DATABASE_URL / MODERATION_BROKER_URL if set, else embedded."""
    from moderation.config import get_settings

    base = tmp_path_factory.mktemp("services")
    with ExitStack() as stack:
        services = ensure_services(
            base,
            os.environ.get("MODERATION_DATABASE_URL"),
            os.environ.get("MODERATION_BROKER_URL"),
            stack,
        )
        database_url = _create_database(services.database_url, stack)
        data_dir = base / "data"
        os.environ.update(
            MODERATION_DATABASE_URL=database_url,
            MODERATION_BROKER_URL=services.broker_url,
            MODERATION_DATA_DIR=str(data_dir),
            MODERATION_POLICIES_DIR=str(ROOT / "policies"),
            MODERATION_STUCK_AFTER_S="300",
        )
        get_settings.cache_clear()
        yield Env(database_url, services.broker_url, data_dir)


def _prepare(url: str) -> str:
    from moderation.admin import migrate, sync_policy_files

    migrate(url)
    sync_policy_files(url, ROOT / "policies")
    return url


@pytest.fixture(scope="session")
def db(env: Env) -> str:
    """The migrated test database with the shipped policies synced; returns its URL."""
    return _prepare(env.database_url)


@pytest.fixture(scope="session")
def make_db(env: Env) -> Iterator[Callable[[], str]]:
    """Make another migrated, synced database on the same server (for tests that must not
    share the outbox with the suite's API relay)."""
    with ExitStack() as stack:
        yield lambda: _prepare(_create_database(env.database_url, stack))


@dataclass(frozen=True)
class Keys:
    """API keys of two tenants."""

    a: str
    b: str


@pytest.fixture(scope="session")
def keys(db: str) -> Keys:
    """Two tenants, each with a key."""
    from moderation.admin import create_tenant_key

    return Keys(
        a=create_tenant_key(db, f"tenant-a-{uuid.uuid4().hex[:6]}"),
        b=create_tenant_key(db, f"tenant-b-{uuid.uuid4().hex[:6]}"),
    )


@pytest.fixture(scope="session")
def api(db: str) -> Iterator[ApiServer]:
    """The real API over HTTP (uvicorn on a free loopback port)."""
    with start_api() as server:
        yield server


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight checkpoints of the three architectures, built offline."""
    from moderation.inference.tiny import build_tiny

    base = tmp_path_factory.mktemp("checkpoints")
    archs = ("llava", "llava_next", "llava_onevision")
    return {arch: build_tiny(arch, base / arch) for arch in archs}


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A real S3 server (SeaweedFS on free loopback ports), started once for the session."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
