"""Claims: one reviewer at a time per item, even when two race; renewals, expiry, release."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import text

from moderation.review.queue import Claim, ClaimHeld, ItemNotFound, claim_item, release_item
from moderation.storage.db import session_scope
from tests.review.support import Batch


def _claim(db: str, sid: uuid.UUID, reviewer: str, ttl_s: int | None = None) -> Claim:
    with session_scope(db) as session:
        return claim_item(session, sid, reviewer, ttl_s=ttl_s)


def _ttl(claim: Claim) -> float:
    return (claim.expires_at - claim.claimed_at).total_seconds()


def _expire(db: str, sid: uuid.UUID) -> None:
    with session_scope(db) as session:
        session.execute(
            text(
                "UPDATE review_claims SET expires_at = now() - interval '1 second' "
                "WHERE submission_id = :s"
            ),
            {"s": sid},
        )


def _race(db: str, sid: uuid.UUID, reviewers: list[str]) -> tuple[list[str], list[str]]:
    """Every reviewer claims the item at once (one thread each); (winners, losers)."""
    start = threading.Barrier(len(reviewers))
    won: list[str] = []
    lost: list[str] = []

    def take(reviewer: str) -> None:
        start.wait()
        try:
            won.append(_claim(db, sid, reviewer).reviewer)
        except ClaimHeld as exc:
            assert exc.claim is None or exc.claim.reviewer != reviewer
            lost.append(reviewer)

    threads = [threading.Thread(target=take, args=(r,)) for r in reviewers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, lost


def test_two_reviewers_racing_for_an_item_exactly_one_wins(
    db: str, make_batch: Callable[..., Batch]
) -> None:
    (sid,) = make_batch(["review"]).ids
    for round_ in range(3):  # a fresh item, then twice over an expired claim
        won, lost = _race(db, sid, [f"ann-{round_}", f"bob-{round_}"])
        assert len(won) == 1 and len(lost) == 1, (won, lost)
        _expire(db, sid)


def test_a_claim_renews_for_its_holder_and_expires_for_others(
    db: str, make_batch: Callable[..., Batch]
) -> None:
    (sid,) = make_batch(["review"]).ids
    first = _claim(db, sid, "ann", ttl_s=60)
    assert _ttl(first) == 60
    renewed = _claim(db, sid, "ann", ttl_s=120)
    assert renewed.expires_at > first.expires_at
    with pytest.raises(ClaimHeld, match="claimed by ann") as held:
        _claim(db, sid, "bob")
    assert held.value.claim is not None and held.value.claim.reviewer == "ann"
    _expire(db, sid)
    assert _claim(db, sid, "bob").reviewer == "bob"  # ann's claim lapsed


def test_the_default_ttl_is_the_setting(
    db: str, make_batch: Callable[..., Batch], configure: Callable[[str, str], None]
) -> None:
    (sid,) = make_batch(["review"]).ids
    assert _ttl(_claim(db, sid, "x")) == 600
    configure("MODERATION_REVIEW_CLAIM_TTL_S", "30")
    assert _ttl(_claim(db, sid, "x")) == 30


def test_release_gives_the_item_back(db: str, make_batch: Callable[..., Batch]) -> None:
    (sid,) = make_batch(["review"]).ids
    _claim(db, sid, "ann")
    with session_scope(db) as session:
        assert not release_item(session, sid, "bob")  # not bob's to release
        assert release_item(session, sid, "ann")
    assert _claim(db, sid, "bob").reviewer == "bob"


def test_a_tenant_reviewer_cannot_claim_another_tenants_item(
    db: str, make_batch: Callable[..., Batch]
) -> None:
    mine, theirs = make_batch(["review"]), make_batch(["review"])
    with session_scope(db) as session, pytest.raises(ItemNotFound):
        claim_item(session, theirs.ids[0], "ann", viewer_tenant_id=mine.tenant_id)
    with session_scope(db) as session:
        claim = claim_item(session, mine.ids[0], "ann", viewer_tenant_id=mine.tenant_id)
    assert claim.reviewer == "ann"
