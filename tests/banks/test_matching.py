"""Matching before the model (issue #19) through the real API, database and a real tiny
checkpoint: a banked image re-encoded and resized is decided ``hash_match`` with no model
call; an unrelated image and another tenant's upload go to the model."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from moderation.banks.hashing import hash_image
from tests.banks.support import (
    CountingEngine,
    bank_image,
    create_bank,
    near_duplicate,
    photo_png,
    run_flow,
    submit,
    tenant,
)
from tests.conftest import Env
from tests.support import images
from tests.support.db import rows
from tests.support.processes import ApiServer


@pytest.fixture(scope="module")
def engine(checkpoints: dict[str, Path]) -> Any:
    from moderation.inference import load_engine

    return load_engine(str(checkpoints["llava"]), warm_up=False)


def test_a_banked_image_reencoded_and_resized_is_decided_by_hash_match_without_the_model(
    env: Env, db: str, api: ApiServer, engine: Any
) -> None:
    key, _ = tenant(db)
    other_key, _ = tenant(db)
    banked = images.photo(seed=1901)
    with api.client(key) as client, api.client(other_key) as other:
        bank_id = create_bank(client, "block")
        entry = bank_image(client, bank_id, images.encode(banked, "PNG"), label="O1")
        assert entry["pdq_quality"] >= 50 and entry["md5"] and entry["sha256"]
        near = near_duplicate(banked, quality=70, scale=0.9)
        assert hash_image(near).sha256 != entry["sha256"]
        matched = submit(client, near)
        unrelated = submit(client, images.encode(images.photo(seed=1902), "JPEG"))
        elsewhere = submit(other, near)  # the same bytes from a tenant without the bank
        counting = CountingEngine(engine)
        report = run_flow(env.data_dir, db, counting, [matched, unrelated, elsewhere])
        assert report.hash_matched == [matched]
        assert sorted(report.decided) == sorted([unrelated, elsewhere])
        assert counting.calls == [2]  # one model call, for the two others only

        decision = client.get(f"/v1/moderations/{matched}").json()["decision"]
        assert decision["source"] == "hash_match" and decision["action"] == "block"
        assert decision["match"]["bank"] == bank_id
        assert decision["match"]["entry"] == entry["id"]
        assert 0 < decision["match"]["distance"] <= 31 and decision["match"]["kind"] == "pdq"
        assert decision["category"] == "O1"
        seen = other.get(f"/v1/moderations/{elsewhere}").json()["decision"]
        assert seen["source"] == "model" and seen["match"] is None
    (event,) = rows(
        db,
        "SELECT data FROM audit_events WHERE subject_id = :s AND event = 'decision.made'",
        s=str(matched),
    )
    assert event["data"]["source"] == "hash_match" and event["data"]["match"]["bank"] == bank_id
    stored = rows(db, "SELECT quality FROM image_hashes WHERE md5 = :m", m=hash_image(near).md5)
    assert stored and stored[0]["quality"] >= 50  # computed once, kept


def test_a_review_bank_sends_matches_to_review_and_exact_hashes_match_flat_images(
    env: Env, db: str, api: ApiServer, engine: Any
) -> None:
    """A flat image has PDQ quality under 50: its PDQ never matches, its MD5 still does."""
    key, _ = tenant(db)
    flat = images.encode(images.Image.new("RGB", (64, 64), (40, 40, 40)), "PNG")
    flat_other = images.encode(images.Image.new("RGB", (64, 64), (41, 40, 40)), "PNG")
    with api.client(key) as client:
        bank_id = create_bank(client, "review")
        hashed = hash_image(flat)
        assert hashed.quality < 50
        response = client.post(
            f"/v1/hash-banks/{bank_id}/entries", json={"pdq": hashed.pdq, "md5": hashed.md5}
        )
        assert response.status_code == 201, response.text
        exact, similar = submit(client, flat, "f.png"), submit(client, flat_other, "g.png")
        report = run_flow(env.data_dir, db, CountingEngine(engine), [exact, similar])
        assert report.hash_matched == [exact] and report.decided == [similar]
        decision = client.get(f"/v1/moderations/{exact}").json()["decision"]
        assert decision["action"] == "review" and decision["match"]["kind"] == "md5"
        assert decision["match"]["distance"] == 0


def test_a_deleted_entry_stops_matching(env: Env, db: str, api: ApiServer, engine: Any) -> None:
    key, _ = tenant(db)
    with api.client(key) as client:
        bank_id = create_bank(client)
        entry = bank_image(client, bank_id, photo_png(1903))
        first = submit(client, near_duplicate(images.photo(seed=1903)))
        assert run_flow(env.data_dir, db, CountingEngine(engine), [first]).hash_matched == [first]
        gone = client.delete(f"/v1/hash-banks/{bank_id}/entries/{entry['id']}")
        assert gone.status_code == 204
        again = submit(client, near_duplicate(images.photo(seed=1903), quality=60))
        assert run_flow(env.data_dir, db, CountingEngine(engine), [again]).decided == [again]


def test_a_reviewers_block_added_to_a_bank_catches_the_next_and_the_older_near_duplicates(
    env: Env, db: str, api: ApiServer, engine: Any
) -> None:
    from moderation.review.actions import Judgement, Notes, decide
    from moderation.review.queue import QueueFilter, claim_item, list_queue
    from moderation.storage.db import session_scope
    from tests.support.db import execute

    key, tenant_id = tenant(db)
    picture = images.photo(seed=1960)
    with api.client(key) as client:
        bank_id = create_bank(client, "block")
        older = submit(client, near_duplicate(picture, quality=80, scale=1.2))
        seen = submit(client, images.encode(picture, "PNG"), "p.png")
        report = run_flow(env.data_dir, db, CountingEngine(engine), [older, seen])
        assert sorted(report.decided) == sorted([older, seen])
        # the model allowed the older one (random weights decide anything: make it so)
        execute(
            db,
            "UPDATE decisions SET action = 'allow', model_action = 'allow' "
            "WHERE submission_id = :s",
            s=str(older),
        )
        with session_scope(db) as session:
            claim_item(session, seen, "rev@example.com")
            decide(
                session,
                seen,
                "rev@example.com",
                Judgement("block", "O1"),
                Notes("known image"),
                add_to_bank=uuid.UUID(bank_id),
                again=True,
            )
        (entry,) = client.get(f"/v1/hash-banks/{bank_id}/entries").json()["entries"]
        assert entry["source"] == f"review:{seen}" and entry["label"] == "O1"
        assert entry["added_by"] == "rev@example.com"

        with session_scope(db) as session:
            queued = list_queue(session, QueueFilter(reason="hash_match"), 1, 50, tenant_id)
        assert [(i.submission_id, i.reason) for i in queued.items] == [(older, "hash_match")]

        later = submit(client, near_duplicate(picture, quality=70, scale=0.9))
        counting = CountingEngine(engine)
        assert run_flow(env.data_dir, db, counting, [later]).hash_matched == [later]
        assert counting.calls == []
        decision = client.get(f"/v1/moderations/{later}").json()["decision"]
        assert decision["match"]["entry"] == entry["id"] and decision["action"] == "block"
