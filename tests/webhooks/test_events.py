"""Emitting events, against the real database: set-based, only to subscribed enabled endpoints,
from the flow's failure paths and the sweeper, and re-sent by the sweep when a task was lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from moderation.accounts import tenant_repository as tenants
from moderation.inference.types import ModerationRequest, Verdict
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import get_engine, session_scope
from moderation.submissions.moderation_flow import FlowContext, moderate_submissions_flow
from moderation.submissions.sweeper import sweep_flow
from moderation.webhooks import endpoint_repository as webhook_endpoints
from moderation.webhooks.endpoints import register_endpoint
from moderation.webhooks.events import Event, emit_events
from moderation.webhooks.secrets import SecretBox
from tests.conftest import Env
from tests.support.db import rows
from tests.support.intake import accept_many

BOX = SecretBox("a-test-server-key-that-is-long-enough")


@pytest.fixture(scope="module")
def db(make_db: Callable[[], str]) -> str:
    """A database of this module's own: no relay sends its messages."""
    return make_db()


def _tenant_with_submissions(
    env: Env, db: str, seeds: list[int]
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    name = f"events-{uuid.uuid4().hex[:8]}"
    made = accept_many(db, env.data_dir / "blobs", seeds, tenant=name)
    with session_scope(db) as session:
        tenant = tenants.get_by_name(session, name)
        assert tenant is not None
        return tenant.id, [uuid.UUID(sid) for sid, _ in made]


def _endpoint(db: str, tenant_id: uuid.UUID, *events: Event) -> uuid.UUID:
    with session_scope(db) as session:
        return register_endpoint(session, BOX, tenant_id, "http://hooks.test/x", events).endpoint.id


@contextmanager
def _statements(db: str) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    engine = get_engine(db)
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _emit(db: str, name: Event, ids: list[uuid.UUID]) -> tuple[int, list[str]]:
    with _statements(db) as seen, session_scope(db) as session:
        written = emit_events(session, name, ids)
    return written, [s for s in seen if not s.startswith(("BEGIN", "COMMIT"))]


def _messages(db: str, ids: list[uuid.UUID]) -> list[dict[str, object]]:
    return rows(
        db,
        "SELECT m.id, m.endpoint_id, m.event, m.submission_id, m.status, o.task, o.queue "
        "FROM webhook_messages m JOIN outbox o ON o.args->>'message_id' = m.id::text "
        "WHERE m.submission_id = ANY(:ids) ORDER BY m.endpoint_id, m.submission_id",
        ids=ids,
    )


def test_no_subscribed_endpoint_costs_one_statement_and_writes_nothing(env: Env, db: str) -> None:
    tenant_id, ids = _tenant_with_submissions(env, db, [1, 2, 3])
    _endpoint(db, tenant_id, "moderation.failed")  # subscribes to another event
    written, statements = _emit(db, "moderation.decided", ids)
    assert written == 0 and len(statements) == 1
    assert _messages(db, ids) == []


def test_one_message_and_one_outbox_row_per_endpoint_and_submission(env: Env, db: str) -> None:
    tenant_id, ids = _tenant_with_submissions(env, db, [11, 12, 13])
    first = _endpoint(db, tenant_id, "moderation.decided")
    second = _endpoint(db, tenant_id, "moderation.decided", "moderation.updated")
    disabled = _endpoint(db, tenant_id, "moderation.decided")
    with session_scope(db) as session:
        webhook_endpoints.disable(session, disabled, "test")
    other_tenant, _ = _tenant_with_submissions(env, db, [14])
    _endpoint(db, other_tenant, "moderation.decided")
    written, statements = _emit(db, "moderation.decided", ids)
    assert written == 6 and len(statements) == 2  # INSERT … SELECT (with the outbox) + NOTIFY
    found = _messages(db, ids)
    assert {(m["endpoint_id"], m["submission_id"]) for m in found} == {
        (e, s) for e in (first, second) for s in ids
    }
    assert {(m["event"], m["status"], m["task"], m["queue"]) for m in found} == {
        ("moderation.decided", "pending", "webhooks.deliver", "webhooks")
    }


def _age_submission(db: str, sid: uuid.UUID) -> None:
    with session_scope(db) as session:
        session.execute(
            text(
                "UPDATE submissions SET status = 'processing', attempts = 3, "
                "updated_at = now() - interval '1 hour' WHERE id = :id"
            ),
            {"id": sid},
        )


def test_the_sweeper_emits_moderation_failed_and_resends_lost_deliveries(env: Env, db: str) -> None:
    tenant_id, (sid,) = _tenant_with_submissions(env, db, [21])
    endpoint = _endpoint(db, tenant_id, "moderation.failed")
    _age_submission(db, sid)
    sent: list[tuple[str, str, dict[str, object]]] = []
    report = sweep_flow(db, lambda *m: sent.append(m), stuck_after_s=60, max_attempts=3)
    assert report.failed >= 1
    (message,) = _messages(db, [sid])
    assert (message["event"], message["endpoint_id"]) == ("moderation.failed", endpoint)
    deliver = ("webhooks.deliver", "webhooks", {"message_id": str(message["id"])})
    assert deliver in sent
    # the task is lost: once it is overdue past the grace, the next sweep sends it again, once
    with session_scope(db) as session:
        session.execute(
            text(
                "UPDATE webhook_messages SET next_attempt_at = now() - interval '5 minutes' "
                "WHERE id = :id"
            ),
            {"id": message["id"]},
        )
    sent.clear()
    report = sweep_flow(
        db, lambda *m: sent.append(m), stuck_after_s=60, max_attempts=3, webhook_grace_s=60
    )
    assert report.webhooks_resent == 1 and sent.count(deliver) == 1
    sent.clear()
    sweep_flow(db, lambda *m: sent.append(m), stuck_after_s=60, max_attempts=3, webhook_grace_s=60)
    assert deliver not in sent  # its clock restarted: not overdue again yet


def test_a_deleted_endpoint_takes_its_messages_along(env: Env, db: str) -> None:
    tenant_id, ids = _tenant_with_submissions(env, db, [31])
    endpoint = _endpoint(db, tenant_id, "moderation.failed")
    assert _emit(db, "moderation.failed", ids)[0] == 1
    with session_scope(db) as session:
        assert webhook_endpoints.delete_for_tenant(session, endpoint, tenant_id)
    assert _messages(db, ids) == []


class BrokenEngine:
    """An engine whose every model call fails."""

    def __init__(self, engine: Any) -> None:
        self.model_id, self.revision = engine.model_id, engine.revision
        self.decoding_params = engine.decoding_params

    def ready(self) -> None:
        """It answers; every call fails."""

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        raise RuntimeError("the model is broken")


def test_the_flow_emits_decided_once_and_failed_at_the_attempt_cap(
    env: Env, db: str, checkpoints: dict[str, Path]
) -> None:
    from moderation.inference import load_engine

    engine = load_engine(str(checkpoints["llava"]), warm_up=False)
    tenant_id, (good, bad) = _tenant_with_submissions(env, db, [41, 42])
    _endpoint(db, tenant_id, "moderation.decided", "moderation.failed")
    ctx = FlowContext(db, FileBlobStore(env.data_dir / "blobs"), max_pixels=10**7, max_attempts=1)
    moderate_submissions_flow(ctx, engine, [good])
    moderate_submissions_flow(ctx, engine, [good])  # redelivered: decided once, emitted once
    report = moderate_submissions_flow(ctx, BrokenEngine(engine), [bad])  # type: ignore[arg-type]
    assert report.failed == [bad]
    assert [(m["event"], m["submission_id"]) for m in _messages(db, [good, bad])] == sorted(
        [("moderation.decided", good), ("moderation.failed", bad)], key=lambda m: m[1]
    )
