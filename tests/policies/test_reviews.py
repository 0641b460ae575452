"""Reviews: ``add_review`` records confirm/overturn; the latest review is the ground truth."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from moderation.review.repository import add_review, ground_truth
from moderation.storage.db import session_scope
from tests.conftest import Env, Keys
from tests.policies.support import new_slug, publish, publish_global, rubric
from tests.support.db import rows
from tests.support.intake import accept_many
from tests.support.processes import ApiServer


def test_confirm_copies_the_decision_and_the_latest_review_wins(
    api: ApiServer, keys: Keys, env: Env, db: str, decide: Callable[[list[str]], None]
) -> None:
    slug = new_slug("rev")
    publish_global(db, slug, rubric(slug))
    (sid, _), (other, _) = accept_many(db, env.data_dir / "blobs", [851, 852], policy=slug)
    decide([sid, other])
    (decision,) = rows(db, "SELECT * FROM decisions WHERE submission_id = :s", s=sid)
    with session_scope(db) as session:
        confirmed = add_review(
            session, decision_id=decision["id"], reviewer="ann", outcome="confirm"
        )
        assert (confirmed.action, confirmed.rating, confirmed.category) == (
            decision["action"],
            decision["rating"],
            decision["category"],
        )
        assert str(confirmed.submission_id) == sid
        add_review(
            session,
            decision_id=decision["id"],
            reviewer="bob",
            outcome="overturn",
            action="block",
            rating="unsafe",
            category="D1",
            note="pills",
        )
        with pytest.raises(ValueError, match="needs the reviewer's action and rating"):
            add_review(session, decision_id=decision["id"], reviewer="x", outcome="overturn")
        with pytest.raises(LookupError):
            add_review(session, decision_id=uuid.uuid4(), reviewer="x", outcome="confirm")
    with session_scope(db) as session:
        truth = ground_truth(session, slug, limit=10)
    assert [(str(t.submission_id), t.rating, t.category) for t in truth] == [(sid, "unsafe", "D1")]


def test_starting_a_backtest_needs_reviewed_submissions(api: ApiServer, keys: Keys) -> None:
    slug = new_slug("rev")
    with api.client(keys.a) as client:
        publish(client, slug, rubric(slug))
        draft = client.post(f"/v1/policies/{slug}/drafts", json={"yaml": rubric(slug)}).json()
        response = client.post(f"/v1/policies/{slug}/drafts/{draft['id']}/backtests", json={})
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "nothing_to_backtest"
        missing = client.get(f"/v1/policies/{slug}/backtests/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
