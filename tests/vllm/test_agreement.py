"""The same checkpoint through both engines, in float32: the same prompt, the same verdicts.

Why the bound holds: both run the same transformers modules on the same prompt tokens; their
forwards differ only in kernels (vLLM's CPU attention, torch.compile) and agree to ~2.4e-6 in
log-probability on every prompt token of this checkpoint (measured). Both mask with xgrammar
0.2.9 over the same schema, so at each step they renormalise over the same allowed tokens, and a
score is a sum of products of a few such probabilities: the largest difference we measured was
4.4e-7; 1e-4 leaves two orders of magnitude. (Under the llavaguard profile the server gets the
verdict as a regex, its JSON-schema mode cannot indent: the same language, so the same masks.)
The greedy path (so rating and category) can only differ where two allowed tokens'
log-probabilities lie within ~1e-5 of each other; these images have no such tie at the rating
or category steps, so rating and category must agree everywhere.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import httpx
import pytest
from PIL import Image

from moderation.inference import HFEngine, load_engine
from moderation.inference.profiles import PROFILES
from moderation.inference.prompt import render_prompt_text
from moderation.inference.rubric import Rubric
from moderation.inference.served import VLLMEngine, chat_messages, image_data_url
from moderation.inference.types import ModerationRequest
from moderation.policies.format import load_policy_file
from tests.conftest import ROOT
from tests.support.vllm import VllmServer

SCORE_BOUND = 1e-4
# (profile, layout): LlavaGuard's template always puts the image first
CASES = [("generic", "image_first"), ("generic", "policy_first"), ("llavaguard", "image_first")]
POLICY_OF = {"generic": "default", "llavaguard": "llavaguard"}


def _images() -> list[Image.Image]:
    solid = [
        Image.new("RGB", (50 + 9 * i, 40 + 5 * i), (40 * i, 200 - 30 * i, 90)) for i in range(3)
    ]
    noise = [
        Image.effect_noise((45 + 7 * i, 60 - 4 * i), 30 + 20 * i).convert("RGB") for i in range(3)
    ]
    return solid + noise


def _rubric(profile: str, layout: str) -> Rubric:
    rubric = load_policy_file(ROOT / "policies" / f"{POLICY_OF[profile]}.yaml").rubric()
    # random weights fill the rationale to its cap: a short one keeps the local engine quick
    return dataclasses.replace(rubric, prompt_layout=layout, rationale_max_chars=60)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def local(small_llava: Path) -> dict[str, HFEngine]:
    return {
        profile: load_engine(str(small_llava), device="cpu", dtype="float32", profile=profile)
        for profile in POLICY_OF
    }


@pytest.fixture(scope="module")
def served(vllm_server: VllmServer) -> dict[str, VLLMEngine]:
    engines = {profile: VLLMEngine(vllm_server.url, profile=profile) for profile in POLICY_OF}
    for engine in engines.values():
        engine.connect()
    return engines


@pytest.mark.parametrize(("profile", "layout"), CASES)
def test_the_server_reads_the_prompt_the_local_engine_reads(
    profile: str,
    layout: str,
    local: dict[str, HFEngine],
    served: dict[str, VLLMEngine],
    vllm_server: VllmServer,
) -> None:
    rubric, image = _rubric(profile, layout), _images()[4]
    messages = chat_messages(PROFILES[profile], rubric, image_data_url(image))
    body = {"model": served[profile].info.served_model, "messages": messages}
    served_ids = httpx.post(f"{vllm_server.url.removesuffix('/v1')}/tokenize", json=body).json()
    processor = local[profile].processor
    text = render_prompt_text(processor, PROFILES[profile].conversation(rubric))
    local_ids = processor(images=[image], text=[text], return_tensors="pt")["input_ids"]
    assert served_ids["tokens"] == local_ids[0].tolist()


@pytest.mark.parametrize(("profile", "layout"), CASES)
def test_both_engines_agree_on_verdicts_and_scores(
    profile: str, layout: str, local: dict[str, HFEngine], served: dict[str, VLLMEngine]
) -> None:
    requests = [ModerationRequest(image, _rubric(profile, layout)) for image in _images()]
    ours = local[profile].moderate_batch(requests)
    theirs = served[profile].moderate_batch(requests)
    largest = 0.0
    for a, b in zip(ours, theirs, strict=True):
        layout = PROFILES[profile].answer
        assert b.raw_text == layout.dump(*json.loads(b.raw_text).values())  # the server's layout
        assert (a.rating, a.category) == (b.rating, b.category)
        assert sum(b.scores.categories.values()) == pytest.approx(1.0, abs=1e-6)
        diffs = [abs(a.scores.unsafe - b.scores.unsafe)]
        diffs += [abs(a.scores.categories[k] - b.scores.categories[k]) for k in a.scores.categories]
        largest = max(largest, *diffs)
    assert largest <= SCORE_BOUND
