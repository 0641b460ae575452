"""Agreement: the arithmetic on fixed counts, and the counts read from reviewed decisions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from moderation.review.actions import Judgement, Notes, confirm, decide, overturn
from moderation.review.agreement import AgreementFilter, Rate, agreement, build_report
from moderation.review.queue import claim_item
from moderation.review.repository import AgreementCell
from moderation.storage.db import session_scope
from tests.review.support import Batch

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
CELLS = [
    AgreementCell("p-v1", D1, "block", "O1", "block", "O1", 3),
    AgreementCell("p-v1", D1, "allow", None, "block", "O2", 1),
    AgreementCell("p-v1", D2, "review", "O2", "allow", None, 2),
    AgreementCell("p-v2", D2, "allow", None, "allow", None, 4),
]


def test_report_arithmetic_on_fixed_counts() -> None:
    report = build_report(CELLS)
    assert report.overall == Rate(7, 10) and report.overall.rate == 0.7
    assert report.actions == Rate(7, 10)
    assert report.labels == ["O1", "O2", "none"]
    assert report.confusion == [[3, 0, 0], [0, 0, 2], [0, 1, 4]]
    per_category = {
        c.category: (c.model_count, c.reviewer_count, c.agreed) for c in report.per_category
    }
    assert per_category == {"O1": (3, 3, 3), "O2": (2, 1, 0), "none": (5, 6, 4)}
    o2 = report.per_category[1]
    assert (o2.precision, o2.recall) == (0.0, 0.0)
    assert report.per_policy_version == {"p-v1": Rate(3, 6), "p-v2": Rate(4, 4)}
    assert report.per_day == [(D1, Rate(3, 4)), (D2, Rate(4, 6))]


def test_an_empty_report_has_no_rates() -> None:
    report = build_report([])
    assert report.overall.rate is None and report.labels == [] and report.confusion == []


def _review(db: str, sid: uuid.UUID, act: Callable[..., object], *args: object) -> None:
    with session_scope(db) as session:
        claim_item(session, sid, "ann", again=act is _again)
    with session_scope(db) as session:
        act(session, sid, "ann", *args)


def _again(session: Session, sid: uuid.UUID, who: str, *judged: Any) -> None:
    """A re-review, asked for on purpose."""
    action, category, note = judged
    decide(session, sid, who, Judgement(action, category), Notes(note), again=True)


def test_agreement_counts_the_latest_review_of_each_decision(
    db: str, make_batch: Callable[..., Batch]
) -> None:
    batch = make_batch(["review", "allow", "block", "allow"])
    review, allow, block, _unreviewed = batch.ids
    _review(db, review, confirm, "looks violent")
    _review(db, review, _again, "allow", None, "on second look: a toy")  # the latest wins
    _review(db, allow, overturn, "block", "O3", "explicit")
    _review(db, block, confirm, "hateful symbol")
    with session_scope(db) as session:
        report = agreement(session, AgreementFilter(tenant_id=batch.tenant_id))
    assert report.overall == Rate(1, 3) and report.actions == Rate(1, 3)
    assert report.labels == ["O1", "O2", "O3", "none"]
    assert report.confusion == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 0]]
    (version,) = report.per_policy_version
    assert version.startswith("default-")
    assert report.per_day == [(datetime.now(UTC).date(), Rate(1, 3))]
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    t = batch.tenant_id
    with session_scope(db) as session:
        assert agreement(session, AgreementFilter(tenant_id=t, date_from=tomorrow)).labels == []
        assert (
            agreement(session, AgreementFilter(tenant_id=t, policy_slug="marketplace")).labels == []
        )
        by_version = agreement(session, AgreementFilter(tenant_id=t, policy_version=version))
        assert by_version.overall.total == 3
