"""Postgres crashing (``pg_ctl stop -m immediate``, a power cut) right after the worker recorded a
decision: the decision, its webhook message and its outbox row are still there after recovery,
because nothing leaves the building before a synchronous commit (issue #25, finding 1).

The dedicated server runs with a 10 s WAL writer delay, so a commit that returned before its
WAL was flushed (``synchronous_commit=off``) is lost with near certainty."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from moderation.config import get_settings
from moderation.storage.db import normalize_url, session_scope
from moderation.submissions.moderation_flow import moderate_submissions_flow
from moderation.webhooks.endpoints import register_endpoint
from moderation.webhooks.secrets import SecretBox
from tests.conftest import ROOT
from tests.support.db import rows
from tests.support.intake import accept_without_sending
from tests.support.services import RestartablePostgres


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[RestartablePostgres]:
    from moderation.admin import migrate, sync_policy_files

    with ExitStack() as stack:
        server = RestartablePostgres(tmp_path / "pg", stack)
        engine = create_engine(normalize_url(server.server_url), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("ALTER SYSTEM SET wal_writer_delay = '10s'"))
            conn.execute(text("SELECT pg_reload_conf()"))
        engine.dispose()
        migrate(server.server_url)
        sync_policy_files(server.server_url, ROOT / "policies")
        yield server


@pytest.fixture
def worker_flow(
    postgres: RestartablePostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The flow context a worker process builds from its settings, on the dedicated server."""
    from workers import runtime

    monkeypatch.setenv("MODERATION_DATABASE_URL", postgres.server_url)
    monkeypatch.setenv("MODERATION_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    runtime.flow_context.cache_clear()
    yield runtime.flow_context()
    runtime.flow_context.cache_clear()
    get_settings.cache_clear()


def test_a_recorded_decision_survives_a_postgres_crash(
    postgres: RestartablePostgres, worker_flow: Any, checkpoints: dict[str, Path]
) -> None:
    from moderation.inference import load_engine

    db = postgres.server_url
    engine = load_engine(str(checkpoints["llava"]), warm_up=False)
    submission, _ = accept_without_sending(db, get_settings().resolved_blob_dir, seed=2501)
    (owner,) = rows(db, "SELECT tenant_id FROM submissions WHERE id = :s", s=submission)
    with session_scope(db) as session:
        box = SecretBox(get_settings().secret_key.get_secret_value())
        tenant = uuid.UUID(str(owner["tenant_id"]))
        register_endpoint(session, box, tenant, "http://hooks.test/x", ["moderation.decided"])

    report = moderate_submissions_flow(worker_flow, engine, [uuid.UUID(submission)])
    assert report.decided == [uuid.UUID(submission)]
    postgres.crash()
    postgres.start()

    (after,) = rows(
        db,
        "SELECT s.status, count(d.id) AS decisions, count(m.id) AS messages "
        "FROM submissions s LEFT JOIN decisions d ON d.submission_id = s.id "
        "LEFT JOIN webhook_messages m ON m.submission_id = s.id WHERE s.id = :s GROUP BY s.status",
        s=submission,
    )
    assert after == {"status": "decided", "decisions": 1, "messages": 1}
    webhook_tasks = rows(db, "SELECT count(*) AS n FROM outbox WHERE task = 'webhooks.deliver'")
    assert webhook_tasks == [{"n": 1}]
