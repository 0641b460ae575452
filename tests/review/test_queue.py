"""The queue: model reviews, open appeals and a stable quality sample; filters, counts, pages,
and tenant scoping."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from moderation.review.queue import (
    ItemNotFound,
    QueueFilter,
    QueuePage,
    claim_item,
    list_queue,
    visible_decision,
)
from moderation.storage.db import session_scope
from moderation.submissions.appeals import file_appeal
from tests.review.support import Batch
from tests.support.db import rows

MakeBatch = Callable[..., Batch]


def _queue(
    db: str,
    flt: QueueFilter,
    rate: float = 0.0,
    page: int = 1,
    page_size: int = 50,
    viewer_tenant_id: uuid.UUID | None = None,
) -> QueuePage:
    with session_scope(db) as session:
        return list_queue(session, flt, page, page_size, viewer_tenant_id, sample_rate=rate)


def test_reviews_and_appeals_are_queued_appeals_first(db: str, make_batch: MakeBatch) -> None:
    batch = make_batch(["review", "allow", "review", "block", "allow"])
    review1, allow1, review2, block, allow2 = batch.ids
    with session_scope(db) as session:
        file_appeal(session, batch.tenant_id, allow1, "this is a family photo")
    page = _queue(db, QueueFilter(tenant_id=batch.tenant_id))
    assert [i.reason for i in page.items] == ["appeal", "review", "review"]
    assert page.items[0].submission_id == allow1
    assert {i.submission_id for i in page.items[1:]} == {review1, review2}
    assert page.total == 3 and page.counts_by_reason == {
        "appeal": 1,
        "hash_match": 0,
        "review": 2,
        "sample": 0,
    }
    everything = _queue(db, QueueFilter(tenant_id=batch.tenant_id), rate=1.0)
    assert {i.submission_id for i in everything.items if i.reason == "sample"} == {block, allow2}
    assert everything.counts_by_reason == {"appeal": 1, "hash_match": 0, "review": 2, "sample": 2}


def test_the_sample_is_a_stable_hash_of_the_submission_id(
    db: str, make_batch: MakeBatch, configure: Callable[[str, str], None]
) -> None:
    batch = make_batch(["allow"] * 12 + ["block"] * 12)
    expected = {
        r["id"]
        for r in rows(
            db,
            "SELECT id FROM submissions WHERE tenant_id = :t "
            "AND abs(hashtext(id::text)::bigint) % 10000 < 5000",
            t=batch.tenant_id,
        )
    }
    assert 0 < len(expected) < 24  # 2^-24 odds of a false failure
    flt = QueueFilter(tenant_id=batch.tenant_id, reason="sample")
    first = _queue(db, flt, rate=0.5, page_size=100)
    again = _queue(db, flt, rate=0.5, page_size=100)
    assert {i.submission_id for i in first.items} == expected
    assert first.items == again.items
    configure("MODERATION_REVIEW_SAMPLE_RATE", "1")
    with session_scope(db) as session:
        assert list_queue(session, flt, page_size=100).total == 24  # the setting by default
    assert _queue(db, QueueFilter(tenant_id=batch.tenant_id)).total == 0  # rate 0: no sample


def test_filters_combine_and_counts_ignore_the_reason_filter(
    db: str, make_batch: MakeBatch
) -> None:
    batch = make_batch(["review", "block", "allow"])
    market = make_batch(["review"], policy="marketplace")
    t = batch.tenant_id
    reasons = {"appeal": 0, "hash_match": 0, "review": 1, "sample": 2}
    assert _queue(db, QueueFilter(tenant_id=t, action="block"), 1.0).total == 1
    assert _queue(db, QueueFilter(tenant_id=t, rating="safe"), 1.0).total == 1
    by_category = _queue(db, QueueFilter(tenant_id=t, category="O2"), 1.0)
    assert [i.submission_id for i in by_category.items] == [batch.ids[0]]
    sampled = _queue(db, QueueFilter(tenant_id=t, reason="sample"), 1.0)
    assert sampled.total == 2 and sampled.counts_by_reason == reasons
    assert _queue(db, QueueFilter(policy_slug="marketplace", tenant_id=t), 1.0).total == 0
    (item,) = _queue(db, QueueFilter(policy_slug="marketplace", tenant_id=market.tenant_id)).items
    assert item.policy_slug == "marketplace" and item.policy_version.startswith("marketplace-")
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    assert _queue(db, QueueFilter(tenant_id=t, date_from=now - hour, date_to=now + hour)).total
    assert _queue(db, QueueFilter(tenant_id=t, date_from=now + hour)).total == 0
    assert _queue(db, QueueFilter(tenant_id=t, date_to=now - hour)).total == 0


def test_pages_split_the_queue_in_order(db: str, make_batch: MakeBatch) -> None:
    batch = make_batch(["review"] * 5)
    flt = QueueFilter(tenant_id=batch.tenant_id)
    pages = [_queue(db, flt, page=n, page_size=2) for n in (1, 2, 3, 4)]
    assert [len(p.items) for p in pages] == [2, 2, 1, 0]
    assert all(p.total == 5 and p.pages == 3 for p in pages)
    whole = _queue(db, flt, page_size=5).items
    assert [i.submission_id for p in pages for i in p.items] == [i.submission_id for i in whole]
    assert sorted(i.submission_id for i in whole) == sorted(batch.ids)
    with pytest.raises(ValueError, match="page"):
        _queue(db, flt, page=0)


def test_a_tenant_viewer_sees_only_its_own_items(db: str, make_batch: MakeBatch) -> None:
    mine, theirs = make_batch(["review"]), make_batch(["review"])
    visible = _queue(db, QueueFilter(), viewer_tenant_id=mine.tenant_id, page_size=200)
    assert [i.submission_id for i in visible.items] == mine.ids
    foreign = QueueFilter(tenant_id=theirs.tenant_id)
    assert _queue(db, foreign, viewer_tenant_id=mine.tenant_id).total == 0
    everyone = _queue(db, QueueFilter(), page_size=200)
    assert {*mine.ids, *theirs.ids} <= {i.submission_id for i in everyone.items}
    with session_scope(db) as session, pytest.raises(ItemNotFound):
        visible_decision(session, theirs.ids[0], mine.tenant_id)
    with session_scope(db) as session, pytest.raises(ItemNotFound):
        visible_decision(session, uuid.uuid4(), None)


def test_items_show_who_holds_them(db: str, make_batch: MakeBatch) -> None:
    batch = make_batch(["review", "review"])
    with session_scope(db) as session:
        claim = claim_item(session, batch.ids[0], "ann@example.com")
    items = {i.submission_id: i for i in _queue(db, QueueFilter(tenant_id=batch.tenant_id)).items}
    held, free = items[batch.ids[0]], items[batch.ids[1]]
    assert (held.claimed_by, held.claim_expires_at) == ("ann@example.com", claim.expires_at)
    assert (free.claimed_by, free.claim_expires_at) == (None, None)
