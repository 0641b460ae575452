"""The detail of one item: decision, the model's own verdict, scores, the exact policy
version, provenance, the live claim and an ordered history."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from moderation.review.actions import overturn
from moderation.review.detail import review_detail
from moderation.review.queue import ItemNotFound, claim_item
from moderation.storage.db import session_scope
from moderation.submissions.appeals import file_appeal
from tests.review.support import MODEL, Batch


def test_detail_has_everything_the_page_shows(db: str, make_batch: Callable[..., Batch]) -> None:
    batch, other = make_batch(["review"]), make_batch(["review"])
    sid = batch.ids[0]
    with session_scope(db) as session:
        file_appeal(session, batch.tenant_id, sid, "please look again")
        claim_item(session, sid, "ann")
    with session_scope(db) as session:
        detail = review_detail(session, sid, batch.tenant_id)
    assert (detail.decision.action, detail.model.action, detail.model.category) == (
        "review",
        "review",
        "O2",
    )
    assert detail.model.verdict == {"rating": "unsafe", "category": "O2"}
    assert detail.unsafe == 0.5 and detail.category_scores == {"O2": 0.7, "none": 0.3}
    assert detail.image.sha256 == detail.submission.image_sha256 and detail.image.size_bytes > 0
    assert detail.policy.version == detail.submission.policy_version
    assert yaml.safe_load(detail.policy.text) == detail.policy.content
    assert detail.policy.category_names["O2"].startswith("Violence")
    prov = detail.provenance
    assert (prov.model_id, prov.model_revision, prov.decoding) == (
        MODEL.model_id,
        MODEL.revision,
        MODEL.decoding,
    )
    assert (prov.prompt_sha256, prov.latency_ms, prov.source) == ("ab" * 32, 12.5, "model")
    assert detail.claim is not None and detail.claim.reviewer == "ann"
    assert detail.open_appeal is not None and detail.open_appeal.reason == "please look again"
    # the audit trail alone: the appeal shows once, when it was filed, with its reason
    assert [(h.event, h.actor) for h in detail.history][1:] == [
        ("decision.made", "model:test/fixed-verdicts"),
        ("appeal.filed", "api"),
    ]
    assert detail.history[-1].notes == [("appeal reason", "please look again")]
    assert detail.tenant_name.startswith("review-")
    assert [c["id"] for c in detail.policy.categories][:2] == ["O1", "O2"]
    with session_scope(db) as session, pytest.raises(ItemNotFound):
        review_detail(session, sid, other.tenant_id)


def test_history_after_an_overturn(db: str, make_batch: Callable[..., Batch]) -> None:
    batch = make_batch(["allow"])
    sid = batch.ids[0]
    with session_scope(db) as session:
        claim_item(session, sid, "ann")
    with session_scope(db) as session:
        overturn(session, sid, "ann", "block", "O3", "<b>explicit</b>")
    with session_scope(db) as session:
        detail = review_detail(session, sid)
    assert (detail.decision.decided_by, detail.decision.category) == ("reviewer", "O3")
    assert (detail.model.action, detail.model.rating, detail.model.category) == (
        "allow",
        "safe",
        None,
    )
    # one line per review (no second "review.overturn" row beside the audit event)
    assert [(h.event, h.actor) for h in detail.history][2:] == [("review.overturned", "ann")]
    assert detail.history[-1].notes == [("internal note", "<b>explicit</b>")]  # raw: escaped later
    assert detail.earlier_review is not None and detail.earlier_review.note == "<b>explicit</b>"
    assert detail.claim is None
    times = [h.at for h in detail.history]
    assert times == sorted(times)
