"""The worker's real path (tiny checkpoint) keeps the model's own action on each decision,
and its ``review`` decisions land in the queue."""

from __future__ import annotations

from collections.abc import Callable

from moderation.review.queue import QueueFilter, list_queue
from moderation.storage.db import session_scope
from tests.conftest import Env
from tests.policies.conftest import decide, tiny_engine  # noqa: F401  (fixtures)
from tests.support.db import rows
from tests.support.intake import accept_many


def test_the_live_flow_records_the_models_action_and_queues_reviews(
    env: Env,
    db: str,
    decide: Callable[[list[str]], None],  # noqa: F811
) -> None:
    made = accept_many(db, env.data_dir / "blobs", [9101, 9102, 9103], tenant="review-live")
    ids = [sid for sid, _ in made]
    decide(ids)
    found = rows(
        db,
        "SELECT d.submission_id, d.action, d.category, d.model_action, d.model_category, "
        "d.decided_by, s.tenant_id FROM decisions d JOIN submissions s ON s.id = d.submission_id "
        "WHERE d.submission_id = ANY(CAST(:ids AS uuid[]))",
        ids=ids,
    )
    assert len(found) == 3
    for row in found:
        assert (row["model_action"], row["model_category"]) == (row["action"], row["category"])
        assert row["decided_by"] == "model"
    flt = QueueFilter(tenant_id=found[0]["tenant_id"])  # type: ignore[arg-type]
    with session_scope(db) as session:
        queue = list_queue(session, flt, sample_rate=1.0)
    # every decision is queued: a review item, or (at rate 1) a sample
    reasons = {i.submission_id: i.reason for i in queue.items}
    expected = {
        r["submission_id"]: "review" if r["action"] == "review" else "sample" for r in found
    }
    assert reasons == expected
