"""policy_first: the rubric prefix's KV cache is computed once and gives the uncached verdicts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from moderation.inference import (
    ARCHITECTURES,
    HFEngine,
    ModerationRequest,
    Verdict,
    attention,
    load_engine,
)
from moderation.inference.prefix import PrefixCache, shared_prefix, suffix_inputs
from moderation.inference.rubric import Rubric

IMAGE = 9  # image token id in the hand-made rows below
PAD = 0


@pytest.fixture(scope="session")
def uncached_engines(checkpoints: dict[str, Path]) -> dict[str, HFEngine]:
    """Engines over the same checkpoints with the prefix cache switched off."""
    return {arch: load_engine(str(path), prefix_cache=False) for arch, path in checkpoints.items()}


def _policy_first(policy: Rubric, title: str | None = None) -> Rubric:
    """The rubric before the image (a new title gives a new policy version)."""
    version = f"{policy.version}-policy-first" + (f"-{title}" if title else "")
    return replace(policy, prompt_layout="policy_first", version=version)


def _assert_same(cached: list[Verdict], uncached: list[Verdict]) -> None:
    assert len(cached) == len(uncached)
    for a, b in zip(cached, uncached, strict=True):
        assert a.raw_text == b.raw_text
        assert (a.rating, a.category, a.rationale) == (b.rating, b.category, b.rationale)
        assert a.prompt_sha256 == b.prompt_sha256
        assert a.scores.unsafe == pytest.approx(b.scores.unsafe, abs=1e-5)
        assert a.scores.categories.keys() == b.scores.categories.keys()
        for key, p in b.scores.categories.items():
            assert a.scores.categories[key] == pytest.approx(p, abs=1e-5)


@pytest.mark.parametrize("arch", ARCHITECTURES)
@pytest.mark.parametrize("size", [1, 4])
def test_cached_verdicts_equal_uncached(
    arch: str,
    size: int,
    engines: dict[str, HFEngine],
    uncached_engines: dict[str, HFEngine],
    default_policy: Rubric,
    images: list[Image.Image],
) -> None:
    engine, plain = engines[arch], uncached_engines[arch]
    policy = _policy_first(default_policy)
    requests = [ModerationRequest(img, policy) for img in images[:size]]
    before = engine.counters.prefill_tokens
    cached = engine.moderate_batch(requests)
    plain_before = plain.counters.prefill_tokens
    _assert_same(cached, plain.moderate_batch(requests))
    assert engine.decoding_params(policy)["prefix_cache"] is True
    assert plain.decoding_params(policy)["prefix_cache"] is False
    # only the image and what follows were prefilled: far fewer tokens than the uncached run
    saved = (plain.counters.prefill_tokens - plain_before) - (
        engine.counters.prefill_tokens - before
    )
    entry = engine.prefixes.peek(policy.version)
    assert entry is not None and saved == size * len(entry.ids)


def test_prefix_is_computed_once_per_policy_version(
    engines: dict[str, HFEngine], default_policy: Rubric, images: list[Image.Image]
) -> None:
    engine = engines["llava_next"]
    policy = _policy_first(default_policy, title="Computed once")
    computed = engine.prefixes.computed
    first = engine.moderate_batch([ModerationRequest(img, policy) for img in images])
    again = engine.moderate_batch([ModerationRequest(img, policy) for img in reversed(images)])
    assert engine.prefixes.computed == computed + 1
    assert [v.raw_text for v in again] == [v.raw_text for v in reversed(first)]
    other = _policy_first(default_policy, title="Another version")
    engine.moderate_batch([ModerationRequest(images[0], other)])
    assert engine.prefixes.computed == computed + 2


def test_mixed_layouts_and_policies_keep_request_order(
    engines: dict[str, HFEngine],
    uncached_engines: dict[str, HFEngine],
    default_policy: Rubric,
    marketplace_policy: Rubric,
    images: list[Image.Image],
) -> None:
    policies = [
        _policy_first(default_policy),
        marketplace_policy,
        _policy_first(marketplace_policy),
        _policy_first(default_policy),
        default_policy,
    ]
    requests = [ModerationRequest(images[i % len(images)], p) for i, p in enumerate(policies)]
    engine = engines["llava_onevision"]
    calls = engine.counters.decode_calls
    cached = engine.moderate_batch(requests)
    # one call per policy_first policy, one for the image_first rows
    assert engine.counters.decode_calls == calls + 3
    _assert_same(cached, uncached_engines["llava_onevision"].moderate_batch(requests))


def test_falls_back_when_prompts_share_no_prefix(
    checkpoints: dict[str, Path],
    default_policy: Rubric,
    images: list[Image.Image],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = load_engine(str(checkpoints["llava"]))
    policy = _policy_first(default_policy)
    monkeypatch.setattr("moderation.inference.prefix.shared_prefix", lambda *_: None)
    requests = [ModerationRequest(img, policy) for img in images[:2]]
    verdicts = engine.moderate_batch(requests)
    assert engine.prefixes.computed == 0
    assert engine.decoding_params(policy)["prefix_cache"] is False
    monkeypatch.undo()
    plain = load_engine(str(checkpoints["llava"]), prefix_cache=False)
    _assert_same(verdicts, plain.moderate_batch(requests))


def _rows(*rows: list[int]) -> dict[str, torch.Tensor]:
    """Left-padded input ids and their attention mask."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([[PAD] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return {"input_ids": ids, "attention_mask": mask, "pixel_values": torch.zeros(len(rows))}


def test_shared_prefix() -> None:
    inputs = _rows([1, 2, 3, IMAGE, IMAGE, 5], [1, 2, 3, IMAGE, 5])
    assert shared_prefix(inputs, IMAGE) is not None
    assert shared_prefix(inputs, IMAGE).tolist() == [1, 2, 3]  # type: ignore[union-attr]
    assert shared_prefix(_rows([1, 2, IMAGE], [1, 4, IMAGE]), IMAGE) is None
    assert shared_prefix(_rows([1, 2, IMAGE], [1, 2, 3]), IMAGE) is None
    assert shared_prefix(_rows([IMAGE, 1], [IMAGE, 2]), IMAGE) is None


def test_suffix_inputs_pad_between_prefix_and_suffix() -> None:
    inputs = _rows([1, 2, IMAGE, IMAGE, IMAGE, 5], [1, 2, IMAGE, 5])
    laid_out = suffix_inputs(inputs, 2, PAD)
    assert laid_out["input_ids"].tolist() == [
        [1, 2, IMAGE, IMAGE, IMAGE, 5],
        [1, 2, 0, 0, IMAGE, 5],
    ]
    assert laid_out["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 1, 1]]
    assert laid_out["pixel_values"] is inputs["pixel_values"]


def test_prefix_cache_is_lru(engines: dict[str, HFEngine]) -> None:
    cache = PrefixCache(engines["llava"].model, max_entries=1)
    a, b = torch.tensor([1, 5, 7]), torch.tensor([1, 5, 8, 9])
    entry = cache.get("a", a)
    assert entry is not None and entry.layers[0][0].shape[-2] == 3
    assert cache.get("a", a) is entry
    assert cache.get("a", b) is None  # the key holds other ids: never reuse them
    cache.get("b", b)
    cache.get("a", a)
    assert cache.computed == 3


def test_only_batches_that_reuse_a_prefix_run_our_attention(
    engines: dict[str, HFEngine], default_policy: Rubric, images: list[Image.Image]
) -> None:
    engine = engines["llava"]

    def implementation() -> str:
        return str(engine.model.config.get_text_config(decoder=True)._attn_implementation)

    engine.moderate_batch([ModerationRequest(images[0], _policy_first(default_policy))])
    assert implementation() == attention.NAME
    engine.moderate_batch([ModerationRequest(images[0], default_policy)])  # image_first
    assert implementation() == "sdpa"
