"""Times that another process compares are the database's (issue #25, finding 6): a claim, a
finish, a heartbeat and a webhook retry are stamped with ``now()`` of their transaction, not
with the clock of whichever host wrote them."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import func, select, text

from moderation.health import repository as inference_workers
from moderation.storage.db import session_scope
from moderation.submissions import repository as submissions
from moderation.submissions.types import Status
from moderation.webhooks import message_repository as webhook_messages
from tests.support.intake import accept_without_sending


def _stamped_now(session: object, sql: str, **params: object) -> bool:
    return bool(session.execute(text(sql), params).scalar_one())  # type: ignore[attr-defined]


def test_claims_and_finishes_use_the_database_clock(db: str, tmp_path: Path) -> None:
    sid = uuid.UUID(accept_without_sending(db, tmp_path / "blobs", seed=2506)[0])
    same = "SELECT updated_at = now() FROM submissions WHERE id = :s"
    with session_scope(db) as session:
        submissions.start_attempts(session, [sid], max_attempts=3)
        assert _stamped_now(session, same, s=sid)
    with session_scope(db) as session:
        assert submissions.finish(session, sid, Status.QUEUED, "retry")
        assert _stamped_now(session, same, s=sid)


def test_heartbeats_use_the_database_clock(db: str) -> None:
    name = f"clock-{uuid.uuid4().hex[:8]}"
    same = (
        "SELECT last_seen_at = now() AND started_at = now() FROM inference_workers WHERE name = :n"
    )
    with session_scope(db) as session:
        inference_workers.register(
            session, name, model_id="m", model_revision="r", device="cpu", dtype="float32",
            warmed_up=True, batch_size=1,
        )  # fmt: skip
        assert _stamped_now(session, same, n=name)
        assert [w.name for w in inference_workers.seen_since(session, 1) if w.name == name]


def test_a_webhook_retry_is_due_by_the_database_clock(db: str) -> None:
    with session_scope(db) as session:
        due = session.execute(select(webhook_messages.in_seconds(90) - func.now())).scalar_one()
    assert due.total_seconds() == 90
