"""Confirm and overturn: the decision becomes the reviewer's (the model's verdict kept), with a
review, an audit event, a resolved appeal, a released claim and a ``moderation.updated``
webhook, in one transaction; refused without a claim, a note, or a valid category."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from moderation.review.actions import ClaimRequired, ReviewInvalid, confirm, overturn
from moderation.review.queue import ItemNotFound, QueueFilter, claim_item, list_queue
from moderation.storage.db import session_scope
from moderation.submissions.appeals import file_appeal
from moderation.webhooks.endpoints import register_endpoint
from moderation.webhooks.secrets import SecretBox
from tests.review.support import Batch
from tests.support.db import rows

MakeBatch = Callable[..., Batch]


def _claimed(db: str, batch: Batch, reviewer: str = "ann@example.com") -> uuid.UUID:
    sid = batch.ids[0]
    with session_scope(db) as session:
        claim_item(session, sid, reviewer)
    return sid


def _decision(db: str, sid: uuid.UUID) -> dict[str, object]:
    (row,) = rows(db, "SELECT * FROM decisions WHERE submission_id = :s", s=sid)
    return row


def _subscribe(db: str, tenant_id: uuid.UUID) -> None:
    box = SecretBox("a-test-server-key-that-is-long-enough")
    with session_scope(db) as session:
        register_endpoint(session, box, tenant_id, "http://hooks.test/r", ["moderation.updated"])


def test_overturn_changes_the_decision_keeps_the_verdict_and_resolves_the_appeal(
    db: str, make_batch: MakeBatch
) -> None:
    batch = make_batch(["allow"])
    sid = batch.ids[0]
    _subscribe(db, batch.tenant_id)
    with session_scope(db) as session:
        appeal = file_appeal(session, batch.tenant_id, sid, "it shows a weapon")
    _claimed(db, batch)
    model = _decision(db, sid)
    with session_scope(db) as session:
        result = overturn(session, sid, "ann@example.com", "block", "O2", "knife, close up")
    after = _decision(db, sid)
    assert (after["action"], after["rating"], after["category"], after["decided_by"]) == (
        "block",
        "unsafe",
        "O2",
        "reviewer",
    )
    kept = ("model_action", "model_category", "verdict", "raw_text", "scores", "rationale")
    assert {k: after[k] for k in kept} == {k: model[k] for k in kept}
    assert (after["model_action"], after["model_category"]) == ("allow", None)
    (review,) = rows(db, "SELECT * FROM reviews WHERE submission_id = :s", s=sid)
    assert (review["outcome"], review["action"], review["category"], review["note"]) == (
        "overturn",
        "block",
        "O2",
        "knife, close up",
    )
    (event,) = rows(
        db, "SELECT * FROM audit_events WHERE subject_id = :s AND event LIKE 'review.%'", s=str(sid)
    )
    assert (event["event"], event["actor"], event["tenant_id"]) == (
        "review.overturned",
        "ann@example.com",
        batch.tenant_id,
    )
    assert event["data"]["before"]["action"] == "allow"  # type: ignore[index]
    assert event["data"]["after"] == {  # type: ignore[index]
        "action": "block",
        "rating": "unsafe",
        "category": "O2",
        "decided_by": "reviewer",
    }
    assert event["data"]["appeal_id"] == str(appeal.id)  # type: ignore[index]
    (resolved,) = rows(db, "SELECT * FROM appeals WHERE id = :a", a=appeal.id)
    # the internal note stays inside: the platform gets only the resolution note (none here)
    assert (resolved["status"], resolved["resolution_note"]) == ("overturned", "")
    assert resolved["resolved_at"] is not None and result.appeal is not None
    assert rows(db, "SELECT * FROM review_claims WHERE submission_id = :s", s=sid) == []
    (message,) = rows(
        db,
        "SELECT m.event, o.task FROM webhook_messages m "
        "JOIN outbox o ON o.args->>'message_id' = m.id::text WHERE m.submission_id = :s",
        s=sid,
    )
    assert message == {"event": "moderation.updated", "task": "webhooks.deliver"}
    assert result.webhook_messages == 1


def test_confirm_makes_the_decision_the_reviewers_and_empties_the_queue(
    db: str, make_batch: MakeBatch
) -> None:
    batch = make_batch(["review"])
    sid = _claimed(db, batch)
    with session_scope(db) as session:
        result = confirm(session, sid, "ann@example.com")  # agreeing needs no note
    after = _decision(db, sid)
    # confirming a `review` is final: it blocks with the model's category
    assert (after["action"], after["category"], after["decided_by"]) == (
        "block",
        "O2",
        "reviewer",
    )
    assert (result.review.outcome, result.appeal, result.webhook_messages) == ("confirm", None, 0)
    events = rows(
        db, "SELECT event FROM audit_events WHERE subject_id = :s ORDER BY id", s=str(sid)
    )
    assert [e["event"] for e in events][-2:] == ["decision.made", "review.confirmed"]
    with session_scope(db) as session:
        queue = list_queue(session, QueueFilter(tenant_id=batch.tenant_id), sample_rate=1.0)
    assert queue.total == 0  # reviewed: neither a review item nor a sample any more


def test_confirming_an_appeal_upholds_it(db: str, make_batch: MakeBatch) -> None:
    batch = make_batch(["block"])
    sid = batch.ids[0]
    with session_scope(db) as session:
        appeal = file_appeal(session, batch.tenant_id, sid, "not violent")
    _claimed(db, batch)
    with session_scope(db) as session:
        confirm(session, sid, "ann@example.com", "graphic injury")
    (resolved,) = rows(db, "SELECT status FROM appeals WHERE id = :a", a=appeal.id)
    assert resolved["status"] == "upheld"


@pytest.mark.parametrize(
    ("action", "category", "note", "error", "message"),
    [
        ("block", "O1", "   ", ReviewInvalid, "a note is required to change the model"),
        ("allow", None, "", ReviewInvalid, "a note is required to change the model"),
        ("ban", "O2", "n", ReviewInvalid, "action must be one of allow, block"),
        ("review", "O2", "n", ReviewInvalid, "action must be one of allow, block"),
        ("allow", "O2", "n", ReviewInvalid, "an allow takes no category"),
        ("block", "Z9", "n", ReviewInvalid, "category 'Z9' is not in policy default-"),
        ("block", None, "n", ReviewInvalid, "a block needs the category"),
    ],
)
def test_invalid_overturns_are_refused_and_change_nothing(
    db: str,
    make_batch: MakeBatch,
    action: str,
    category: str | None,
    note: str,
    error: type[Exception],
    message: str,
) -> None:
    batch = make_batch(["review"])
    sid = _claimed(db, batch)
    before = _decision(db, sid)
    with session_scope(db) as session, pytest.raises(error, match=message):
        overturn(session, sid, "ann@example.com", action, category, note)
    assert _decision(db, sid) == before
    assert rows(db, "SELECT id FROM reviews WHERE submission_id = :s", s=sid) == []


def test_reviewing_needs_the_claim_and_a_visible_item(db: str, make_batch: MakeBatch) -> None:
    batch, other = make_batch(["review"]), make_batch(["review"])
    sid = batch.ids[0]
    with session_scope(db) as session, pytest.raises(ClaimRequired, match="claim moderation"):
        confirm(session, sid, "ann@example.com", "ok")
    _claimed(db, batch, reviewer="bob@example.com")
    with session_scope(db) as session, pytest.raises(ClaimRequired):
        overturn(session, sid, "ann@example.com", "allow", None, "fine")
    with session_scope(db) as session, pytest.raises(ItemNotFound):
        confirm(session, sid, "bob@example.com", "ok", viewer_tenant_id=other.tenant_id)
    with session_scope(db) as session:
        overturn(session, sid, "bob@example.com", "allow", None, "fine", batch.tenant_id)
    assert _decision(db, sid)["rating"] == "safe"
