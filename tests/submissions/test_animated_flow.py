"""Animated images through the worker's flow, on the real database and a real tiny
checkpoint: several frames judged in the one model call, the most severe decides, per-frame
verdicts cached, frames matched against hash banks; a still image decided exactly as before."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from moderation.accounts import tenant_repository as tenants
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import session_scope
from moderation.submissions.frames import select_frames
from moderation.submissions.images import AnimationLimits, decode_for_model
from moderation.submissions.moderation_flow import FlowContext, moderate_submissions_flow
from moderation.submissions.schemas import DecisionOut
from moderation.webhooks.models import WebhookEndpoint, WebhookMessage
from moderation.webhooks.payloads import render_body
from moderation.webhooks.secrets import SecretBox
from tests.conftest import ROOT, Env
from tests.policies.support import publish_global
from tests.submissions.test_moderation_flow import CountingEngine
from tests.support import images
from tests.support.db import rows
from tests.support.intake import accept_data

TENANT = "animated"


@pytest.fixture(scope="module")
def engine(checkpoints: dict[str, Path]) -> Any:
    from moderation.inference import load_engine

    return load_engine(str(checkpoints["llava"]), warm_up=False)


def _ctx(env: Env, db: str, **limits: Any) -> FlowContext:
    blobs = FileBlobStore(env.data_dir / "blobs")
    return FlowContext(db, blobs, 10**7, 3, animation=AnimationLimits(**limits))


def _submit(env: Env, db: str, data: bytes, policy: str = "default") -> uuid.UUID:
    return accept_data(db, env.data_dir / "blobs", data, TENANT, policy).id


def _decision(db: str, sid: uuid.UUID) -> dict[str, Any]:
    (row,) = rows(db, "SELECT * FROM decisions WHERE submission_id = :s", s=str(sid))
    return row


def _frame_verdict(db: str, unsafe: float) -> dict[str, Any]:
    found = [r for r in rows(db, "SELECT * FROM frame_verdicts") if r["scores"]["unsafe"] == unsafe]
    assert found, unsafe
    return found[0]


def test_an_animation_has_several_frames_judged_in_one_call_and_the_worst_decides(
    env: Env, db: str, engine: Any
) -> None:
    data = images.animation(64, 48, seed=11, frames=6)
    sid = _submit(env, db, data)
    counting = CountingEngine(engine)
    report = moderate_submissions_flow(_ctx(env, db), counting, [sid])
    assert report.decided == [sid]
    decision = _decision(db, sid)
    frames = decision["frames"]
    assert len(frames) >= 3 and frames[0]["index"] == 0 and frames[0]["offset_ms"] == 0
    assert counting.calls == [len(frames)]  # every frame in the one engine call
    assert [f["offset_ms"] for f in frames] == [100 * f["index"] for f in frames]
    worst = max(frames, key=lambda f: f["unsafe"])
    assert decision["scores"]["unsafe"] == worst["unsafe"]
    model_said = _frame_verdict(db, worst["unsafe"])
    assert decision["rationale"] == model_said["rationale"]
    assert decision["raw_text"] == model_said["raw_text"]
    assert decision["scores"] == model_said["scores"]
    assert decision["source"] == "model" and decision["match"] is None
    (event,) = rows(
        db,
        "SELECT data FROM audit_events WHERE subject_id = :s AND event = 'decision.made'",
        s=str(sid),
    )
    assert event["data"]["frames"] == [f["index"] for f in frames]


def test_the_most_severe_frame_sets_the_action(env: Env, db: str, engine: Any) -> None:
    """Thresholds set between the two highest frame scores: only the worst frame is unsafe,
    and it alone makes the animation a block (the plain first frame alone would be allowed)."""
    data = images.animation(64, 48, seed=15, frames=6)  # its worst frame is not the first
    first = _submit(env, db, data)
    moderate_submissions_flow(_ctx(env, db), CountingEngine(engine), [first])
    scores = sorted((f["unsafe"], f["index"]) for f in _decision(db, first)["frames"])
    (second, _), (top, top_index) = scores[-2], scores[-1]
    assert top > second and top_index != 0, scores
    cut = round((top + second) / 2, 12)
    text = (ROOT / "policies" / "default.yaml").read_text()
    text = text.replace("slug: default", "slug: animated-cut")
    text = text.replace("review_at: 0.35", f"review_at: {cut}").replace(
        "block_at: 0.7", f"block_at: {cut}"
    )
    publish_global(db, "animated-cut", text)

    sid = _submit(env, db, data, policy="animated-cut")
    moderate_submissions_flow(_ctx(env, db), CountingEngine(engine), [sid])
    decision = _decision(db, sid)
    unsafe = [f for f in decision["frames"] if f["rating"] == "unsafe"]
    assert [f["index"] for f in unsafe] == [top_index]
    assert (decision["action"], decision["rating"]) == ("block", "unsafe")
    assert decision["category"] == unsafe[0]["category"] is not None
    assert decision["scores"]["unsafe"] == top


def test_a_frame_seen_in_another_animation_costs_no_model_call(
    env: Env, db: str, engine: Any
) -> None:
    short = images.animation(64, 48, seed=13, frames=3)
    longer = images.animation(64, 48, seed=13, frames=4)  # the same frames and one more
    limits = AnimationLimits()
    old = select_frames(short, max_pixels=10**7, limits=limits) or []
    new = select_frames(longer, max_pixels=10**7, limits=limits) or []
    unseen = {f.sha256 for f in new} - {f.sha256 for f in old}
    assert unseen and len(unseen) < len(new)
    moderate_submissions_flow(_ctx(env, db), CountingEngine(engine), [_submit(env, db, short)])
    counting = CountingEngine(engine)
    sid = _submit(env, db, longer)
    moderate_submissions_flow(_ctx(env, db), counting, [sid])
    assert counting.calls == [len(unseen)]  # only the frames not judged before
    assert _decision(db, sid)["source"] == "model"

    again = _submit(env, db, images.animation(64, 48, seed=13, frames=4, duration=90))
    counting = CountingEngine(engine)  # other bytes (timing), the same pictures: no call
    moderate_submissions_flow(_ctx(env, db), counting, [again])
    decision = _decision(db, again)
    assert counting.calls == [] and decision["source"] == "cache"
    assert decision["cached_from"] is None and len(decision["frames"]) == len(new)


def test_a_reupload_of_the_same_animation_is_served_with_its_frames(
    env: Env, db: str, engine: Any
) -> None:
    data = images.animation(64, 48, seed=14, frames=5)
    first = _submit(env, db, data)
    moderate_submissions_flow(_ctx(env, db), CountingEngine(engine), [first])
    again = _submit(env, db, data)
    counting = CountingEngine(engine)
    moderate_submissions_flow(_ctx(env, db), counting, [again])
    original, reused = _decision(db, first), _decision(db, again)
    assert counting.calls == [] and reused["source"] == "cache"
    assert reused["frames"] == original["frames"] and reused["cached_from"] == original["id"]


def test_animations_and_stills_share_the_one_engine_call(env: Env, db: str, engine: Any) -> None:
    gif = _submit(env, db, images.animation(64, 48, seed=31, frames=4))
    still = _submit(env, db, images.png(33, 21, seed=15))
    counting = CountingEngine(engine)
    report = moderate_submissions_flow(_ctx(env, db, max_frames=2), counting, [gif, still])
    assert sorted(report.decided) == sorted([gif, still])
    assert counting.calls == [3]  # 2 frames (MODERATION_MAX_FRAMES) + the still image
    assert len(_decision(db, gif)["frames"]) == 2 and _decision(db, still)["frames"] is None


def test_an_animation_over_the_decode_time_cap_fails_clearly(
    env: Env, db: str, engine: Any
) -> None:
    sid = _submit(env, db, images.animation(64, 48, seed=16, frames=5))
    report = moderate_submissions_flow(
        _ctx(env, db, decode_timeout_s=1e-9), CountingEngine(engine), [sid]
    )
    assert report.failed == [sid]
    (row,) = rows(db, "SELECT status, error FROM submissions WHERE id = :s", s=str(sid))
    assert row["status"] == "failed"
    assert "MODERATION_ANIMATION_DECODE_TIMEOUT_S" in row["error"]


def test_the_webhook_payload_lists_the_frames(env: Env, db: str, engine: Any) -> None:
    sid = _submit(env, db, images.animation(64, 48, seed=17, frames=4))
    box = SecretBox("a-test-server-key-that-is-long-enough")
    with session_scope(db) as session:
        from moderation.webhooks.endpoints import register_endpoint

        owner = tenants.get_by_name(session, TENANT)
        assert owner is not None
        register_endpoint(session, box, owner.id, "http://hooks.test/a", ["moderation.decided"])
    moderate_submissions_flow(_ctx(env, db), CountingEngine(engine), [sid])
    with session_scope(db) as session:
        message = session.query(WebhookMessage).filter_by(submission_id=sid).one()
        endpoint = session.get(WebhookEndpoint, message.endpoint_id)
        assert endpoint is not None
        body = json.loads(render_body(session, message, endpoint))
    frames = body["data"]["decision"]["frames"]
    assert frames == _decision(db, sid)["frames"]
    assert set(frames[0]) == {"index", "offset_ms", "rating", "category", "unsafe"}


def test_a_still_image_is_decided_exactly_as_before(env: Env, db: str, engine: Any) -> None:
    """The same verdict as the engine gives the first frame alone, under the same key as
    before animations (image sha256, policy version, model, decoding), no frames."""
    data = images.png(37, 23, seed=18)
    sid = _submit(env, db, data)
    counting = CountingEngine(engine)
    moderate_submissions_flow(_ctx(env, db), counting, [sid])
    decision = _decision(db, sid)
    assert counting.calls == [1] and decision["frames"] is None
    assert (decision["source"], decision["match"], decision["cached_from"]) == ("model", None, None)
    (sub,) = rows(db, "SELECT * FROM submissions WHERE id = :s", s=str(sid))
    material = [
        str(sub["tenant_id"]),
        hashlib.sha256(data).hexdigest(),
        sub["policy_version"],
        decision["model_id"],
        decision["model_revision"],
        decision["decoding"],
    ]
    key = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    assert decision["verdict_key"] == key
    from moderation.inference.types import ModerationRequest
    from moderation.submissions.moderation_flow import cached_policy_version

    rubric = cached_policy_version(db, sub["policy_version"]).rubric()
    image = decode_for_model(data, max_pixels=10**7)
    (direct,) = engine.moderate_batch([ModerationRequest(image, rubric)])
    assert decision["scores"]["unsafe"] == pytest.approx(direct.scores.unsafe)
    assert decision["rationale"] == direct.rationale and decision["raw_text"] == direct.raw_text
    old_fields = {
        "action",
        "rating",
        "category",
        "rationale",
        "scores",
        "decided_by",
        "source",
        "match",
        "model",
        "decided_at",
    }
    assert set(DecisionOut.model_fields) == old_fields | {"frames"}


def test_a_banked_picture_in_a_later_frame_decides_without_the_model(
    env: Env, db: str, engine: Any
) -> None:
    """The file's own hashes match nothing (its first frame is a plain colour); a later
    frame is the picture a bank holds (PDQ of a still image of it)."""
    from moderation.banks.service import Owner, add_entries, create_bank, image_entry

    data = images.animation(256, 192, seed=19, frames=4)
    banked = images.encode(images.photo(256, 192, seed=19 * 100 + 2), "PNG")  # frame 2
    with session_scope(db) as session:
        owner = tenants.get_by_name(session, TENANT) or tenants.create(session, TENANT)
        who = Owner(owner.id, "test")
        bank = create_bank(session, who, f"frames-{uuid.uuid4().hex[:6]}", "block")
        add_entries(session, who, bank, [image_entry(banked, "O2", None)], "test", backfill_days=0)
    sid = _submit(env, db, data)
    counting = CountingEngine(engine)
    report = moderate_submissions_flow(_ctx(env, db), counting, [sid])
    assert report.hash_matched == [sid] and counting.calls == []
    decision = _decision(db, sid)
    assert (decision["source"], decision["action"], decision["category"]) == (
        "hash_match",
        "block",
        "O2",
    )
    assert decision["match"]["frame"] == 2 and decision["match"]["bank"] == str(bank.id)
    assert decision["rationale"].startswith("Frame 2 matches entry")
