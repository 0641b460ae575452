"""Nothing accepted is lost: the outbox relay and the sweeper, against the real database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from moderation.accounts import tenant_repository as tenants
from moderation.outbox import repository as outbox
from moderation.outbox.relay import relay_outbox
from moderation.storage.db import session_scope
from moderation.submissions import repository as submissions
from moderation.submissions.sweeper import sweep_flow
from moderation.webhooks import endpoint_repository as webhook_endpoints
from tests.conftest import Env
from tests.support.db import count, rows
from tests.support.intake import accept_without_sending


@pytest.fixture(scope="module")
def db(make_db: Callable[[], str]) -> str:
    """A database of this module's own: the suite's API relay must not send these messages."""
    return make_db()


class Recorder:
    """A publish function that records messages (or fails like a dead broker)."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.fail = fail

    def __call__(
        self, task: str, queue: str, kwargs: dict[str, Any], headers: object = None
    ) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.append((task, queue, kwargs))


def _submit(env: Env, db: str, seed: int) -> tuple[str, int]:
    return accept_without_sending(db, env.data_dir / "blobs", seed=1000 + seed, tenant="sweeper")


@pytest.fixture(scope="module")
def failed_hook(db: str) -> None:
    """An endpoint of the tenant "sweeper" that takes ``moderation.failed`` (never called)."""
    with session_scope(db) as session:
        owner = tenants.get_by_name(session, "sweeper") or tenants.create(session, "sweeper")
        webhook_endpoints.add(
            session, owner.id, "https://hooks.example/failed", ["moderation.failed"], "unused"
        )


def _age(db: str, sid: str, idle_s: int = 3600, **values: object) -> None:
    """Set columns of a submission, last updated ``idle_s`` ago."""
    from sqlalchemy import create_engine, text

    from moderation.storage.db import normalize_url

    sets = ", ".join(
        [f"{k} = :{k}" for k in values] + ["updated_at = now() - make_interval(secs => :idle)"]
    )
    engine = create_engine(normalize_url(db))
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE submissions SET {sets} WHERE id = :id"),
            {"id": sid, "idle": idle_s, **values},
        )
    engine.dispose()


def _events(db: str, sid: str) -> list[object]:
    found = rows(db, "SELECT event FROM audit_events WHERE subject_id = :id ORDER BY id", id=sid)
    return [r["event"] for r in found]


def _failed_messages(db: str, sid: str) -> int:
    return count(
        db, "webhook_messages WHERE submission_id = :s AND event = 'moderation.failed'", s=sid
    )


def _sweep(db: str, publish: Recorder, max_attempts: int = 3):  # type: ignore[no-untyped-def]
    return sweep_flow(db, publish, stuck_after_s=60, max_attempts=max_attempts)


def test_relay_keeps_messages_while_the_broker_is_down(env: Env, db: str) -> None:
    sid, outbox_id = _submit(env, db, seed=1)
    assert relay_outbox(db, Recorder(fail=True), [outbox_id]) == 0
    (row,) = rows(db, "SELECT sent_at, attempts FROM outbox WHERE id = :i", i=outbox_id)
    assert row["sent_at"] is None and row["attempts"] == 1
    recorder = Recorder()
    assert relay_outbox(db, recorder, [outbox_id]) == 1
    assert recorder.sent == [("inference.moderate", "inference", {"submission_id": sid})]
    assert relay_outbox(db, recorder, [outbox_id]) == 0  # sent once


def test_sweeper_requeues_stuck_submissions(env: Env, db: str) -> None:
    sid, outbox_id = _submit(env, db, seed=2)
    relay_outbox(db, Recorder(), [outbox_id])
    _age(db, sid, status="processing", attempts=1)
    recorder = Recorder()
    report = _sweep(db, recorder)
    assert report.requeued >= 1
    assert ("inference.moderate", "inference", {"submission_id": sid}) in recorder.sent
    (row,) = rows(db, "SELECT status, enqueue_count FROM submissions WHERE id = :id", id=sid)
    assert row == {"status": "queued", "enqueue_count": 2}
    events = rows(db, "SELECT event FROM audit_events WHERE subject_id = :id", id=sid)
    assert {"event": "submission.requeued"} in events


def test_sweeper_fails_submissions_past_the_attempt_cap(
    env: Env, db: str, failed_hook: None
) -> None:
    sid, _ = _submit(env, db, seed=3)
    _age(db, sid, status="processing", attempts=3, error="RuntimeError: CUDA out of memory")
    report = _sweep(db, Recorder())
    assert report.failed >= 1
    (row,) = rows(db, "SELECT status, error FROM submissions WHERE id = :id", id=sid)
    assert row["status"] == "failed"
    assert "gave up after 3 attempts" in row["error"] and "CUDA out of memory" in row["error"]
    assert _events(db, sid)[-1] == "submission.failed"
    assert _failed_messages(db, sid) == 1


def test_a_submission_waiting_in_a_backlog_is_requeued_not_failed(
    env: Env, db: str, failed_hook: None
) -> None:
    """Re-enqueued as often as the attempt cap and more while it waited, never claimed by a
    worker: never tried, so never given up."""
    sid, outbox_id = _submit(env, db, seed=6)
    relay_outbox(db, Recorder(), [outbox_id])
    for _ in range(4):
        _age(db, sid)  # still queued long after its last (re-)enqueue
        recorder = Recorder()
        _sweep(db, recorder, max_attempts=3)
        assert ("inference.moderate", "inference", {"submission_id": sid}) in recorder.sent
    (row,) = rows(
        db, "SELECT status, attempts, enqueue_count, error FROM submissions WHERE id = :id", id=sid
    )
    assert row == {"status": "queued", "attempts": 0, "enqueue_count": 5, "error": None}
    assert _events(db, sid) == ["submission.received"] + ["submission.requeued"] * 4
    assert _failed_messages(db, sid) == 0


def test_a_waiting_submission_is_resent_less_and_less_often(env: Env, db: str) -> None:
    """Each re-enqueue of a queued submission doubles the wait before the next one (up to 16
    times ``stuck_after_s``); a claimed one is re-enqueued after ``stuck_after_s``."""
    sid, outbox_id = _submit(env, db, seed=7)
    relay_outbox(db, Recorder(), [outbox_id])

    def requeued(idle_s: int, **values: object) -> bool:
        _age(db, sid, idle_s, **values)
        recorder = Recorder()
        _sweep(db, recorder)  # stuck after 60 s
        return ("inference.moderate", "inference", {"submission_id": sid}) in recorder.sent

    assert not requeued(59, status="queued", enqueue_count=1)
    assert requeued(61, status="queued", enqueue_count=1)
    assert not requeued(230, status="queued", enqueue_count=3)  # twice re-enqueued: 4 x 60 s
    assert requeued(250, status="queued", enqueue_count=3)
    assert not requeued(950, status="queued", enqueue_count=40)
    assert requeued(970, status="queued", enqueue_count=40)  # at most 16 x 60 s
    assert requeued(61, status="processing", attempts=1, enqueue_count=40)
    (row,) = rows(db, "SELECT status, attempts FROM submissions WHERE id = :id", id=sid)
    assert row == {"status": "queued", "attempts": 1}


def test_sweeper_relays_what_the_api_could_not_send(env: Env, db: str) -> None:
    sid, outbox_id = _submit(env, db, seed=4)  # never relayed: the broker was "down"
    recorder = Recorder()
    _sweep(db, recorder)
    assert ("inference.moderate", "inference", {"submission_id": sid}) in recorder.sent
    assert rows(
        db, "SELECT sent_at IS NOT NULL AS sent FROM outbox WHERE id = :i", i=outbox_id
    ) == [{"sent": True}]


def test_fresh_submissions_are_left_alone(env: Env, db: str) -> None:
    sid, _ = _submit(env, db, seed=5)
    _sweep(db, Recorder())
    assert rows(db, "SELECT enqueue_count FROM submissions WHERE id = :id", id=sid) == [
        {"enqueue_count": 1}
    ]
    assert uuid.UUID(sid)


def test_housekeeping_prunes_old_sent_messages_and_keys_in_bounded_batches(
    env: Env, db: str
) -> None:
    """Sent outbox messages older than the retention and expired idempotency keys go, a
    bounded batch per sweep; pending messages and fresh keys stay."""
    sid, _ = accept_without_sending(db, env.data_dir / "blobs", seed=1301)
    tenant = rows(db, "SELECT tenant_id FROM submissions WHERE id = :s", s=sid)[0]["tenant_id"]
    with session_scope(db) as session:
        session.execute(
            text(
                "INSERT INTO outbox (task, queue, args, created_at, sent_at, attempts) "
                "SELECT 'x.prune', 'x', '{}', now() - interval '3 days', "
                "CASE WHEN n <= 3 THEN now() - interval '2 days' END, 1 "
                "FROM generate_series(1, 4) AS n"
            )
        )
        session.execute(
            text(
                "INSERT INTO idempotency_keys (tenant_id, key, request_sha256, submission_id, "
                "created_at) SELECT :t, 'prune-' || age, '', :s, now() - CAST(age AS interval) "
                "FROM unnest(ARRAY['3 days', '2 days', '1 hour']) AS age"
            ),
            {"t": tenant, "s": sid},
        )
        assert outbox.prune_sent(session, older_than_s=86_400, limit=2) == 2
        assert submissions.forget_idempotency_keys(session, older_than_s=86_400, limit=1) == 1
    report = sweep_flow(db, lambda *_: None, stuck_after_s=60, max_attempts=3)
    assert report.pruned_outbox >= 1 and report.forgotten_keys >= 1
    assert count(db, "outbox WHERE task = 'x.prune'") == 1  # the one never sent
    keys = rows(db, "SELECT key FROM idempotency_keys WHERE key LIKE 'prune-%'")
    assert keys == [{"key": "prune-1 hour"}]
