"""HFEngine on the three tiny architectures: valid verdicts, batch invariance, mixed policies."""

from __future__ import annotations

import hashlib

import pytest
from PIL import Image

from moderation.inference import HFEngine, ModerationRequest, Verdict
from moderation.inference.profiles import GENERIC_PROFILE
from moderation.inference.prompt import render_prompt_text
from moderation.inference.rubric import Rubric
from moderation.inference.verdict_format import GENERIC


def _check_verdict(verdict: Verdict, policy: Rubric, engine: HFEngine) -> None:
    category = verdict.category if verdict.category is not None else "none"
    assert verdict.raw_text == GENERIC.dump(verdict.rating, category, verdict.rationale)
    assert verdict.rating in ("safe", "unsafe")
    assert verdict.category is None or verdict.category in policy.category_ids
    assert len(verdict.rationale) <= policy.rationale_max_chars
    assert set(verdict.scores.categories) == {*policy.category_ids, "none"}
    assert sum(verdict.scores.categories.values()) == pytest.approx(1.0, abs=1e-6)
    assert all(0.0 <= p <= 1.0 for p in verdict.scores.categories.values())
    assert 0.0 <= verdict.scores.unsafe <= 1.0
    prompt = render_prompt_text(engine.processor, GENERIC_PROFILE.conversation(policy))
    assert verdict.prompt_sha256 == hashlib.sha256(prompt.encode()).hexdigest()
    assert verdict.latency_ms > 0


def test_verdicts_are_schema_valid(
    engine: HFEngine, default_policy: Rubric, images: list[Image.Image]
) -> None:
    verdicts = engine.moderate_batch([ModerationRequest(img, default_policy) for img in images])
    assert len(verdicts) == len(images)
    for verdict in verdicts:
        _check_verdict(verdict, default_policy, engine)
    assert "RANDOM WEIGHTS" in engine.model_id
    assert engine.random_weights


def test_batch_of_8_matches_batch_of_1(
    engine: HFEngine, default_policy: Rubric, images: list[Image.Image]
) -> None:
    batch = [ModerationRequest(images[i % len(images)], default_policy) for i in range(8)]
    together = engine.moderate_batch(batch)
    for i in (0, 1, 2):  # one image per anyres tile layout
        (alone,) = engine.moderate_batch([batch[i]])
        assert together[i].raw_text == alone.raw_text
        assert together[i].scores.unsafe == pytest.approx(alone.scores.unsafe, abs=1e-4)
        for key, p in alone.scores.categories.items():
            assert together[i].scores.categories[key] == pytest.approx(p, abs=1e-4)
    # the same image twice in one batch gives the same verdict
    assert together[0].raw_text == together[4].raw_text


def test_mixed_policy_batch(
    engines: dict[str, HFEngine],
    default_policy: Rubric,
    marketplace_policy: Rubric,
    images: list[Image.Image],
) -> None:
    engine = engines["llava_next"]
    policies = [default_policy, marketplace_policy, marketplace_policy, default_policy]
    requests = [ModerationRequest(img, p) for img, p in zip(images, policies, strict=True)]
    verdicts = engine.moderate_batch(requests)
    for verdict, policy in zip(verdicts, policies, strict=True):
        _check_verdict(verdict, policy, engine)
    (alone,) = engine.moderate_batch([requests[1]])
    assert verdicts[1].raw_text == alone.raw_text


def test_empty_batch(engines: dict[str, HFEngine]) -> None:
    assert engines["llava"].moderate_batch([]) == []


def test_warm_up_and_decoding_params(engines: dict[str, HFEngine], default_policy: Rubric) -> None:
    engine = engines["llava"]
    engine.warm_up()
    assert engine.warmed_up
    params = engine.decoding_params(default_policy)
    assert params["strategy"] == "greedy"
    assert params["constrained"] == "json_schema/xgrammar"
    assert params["max_new_tokens"] == GENERIC.max_new_tokens(default_policy)
    assert params["prompt_layout"] == "image_first" and params["prefix_cache"] is False
    assert (engine.device, engine.dtype) == ("cpu", "float32")
