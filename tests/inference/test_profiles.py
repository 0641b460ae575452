"""Model profiles: LlavaGuard's prompt and answers, proved against its repository's own text."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import xgrammar as xgr
from PIL import Image

from moderation.inference import HFEngine, ModerationRequest, load_engine
from moderation.inference.llavaguard_prompt import (
    RATIONALE_STEP_V1_1,
    RATIONALE_STEP_V1_2,
    policy_text,
)
from moderation.inference.profiles import PROFILES, choose_profile
from moderation.inference.prompt import render_prompt_text
from moderation.inference.rubric import Rubric
from moderation.inference.verdict_format import GENERIC, LLAVAGUARD, VerdictFormatError

DATA = Path(__file__).parent / "data" / "llavaguard"
# (reference answer, our rating, our category)
ANSWERS = [
    ("answer-notebook.txt", "safe", "none"),
    ("answer-assessment-function.txt", "unsafe", "O2"),
]


def _reference_prompt(name: str) -> str:
    """LlavaGuard's training prompt as LLaVA's preprocessing leaves the text (README.md here)."""
    raw = (DATA / name).read_text()
    assert raw.endswith("<image>\n")
    return raw.replace("<image>", "").strip()


@pytest.mark.parametrize(
    ("reference", "profile", "step"),
    [
        ("get_default_policy-v24.txt", "llavaguard", RATIONALE_STEP_V1_2),
        ("get_default_policy-v16.txt", "llavaguard-v1.1", RATIONALE_STEP_V1_1),
    ],
)
def test_llavaguards_own_policy_renders_its_reference_prompt_character_for_character(
    llavaguard_policy: Rubric, reference: str, profile: str, step: str
) -> None:
    expected = _reference_prompt(reference)
    assert policy_text(llavaguard_policy, step) == expected
    conversation = PROFILES[profile].conversation(llavaguard_policy)
    image, text = conversation[0]["content"]
    assert image == {"type": "image"}  # first, where LLaVA's training put it
    assert text == {"type": "text", "text": expected}


def test_the_chat_template_puts_the_image_before_the_policy(
    engines: dict[str, HFEngine], llavaguard_policy: Rubric
) -> None:
    processor = engines["llava_onevision"].processor
    conversation = PROFILES["llavaguard"].conversation(llavaguard_policy)
    text = render_prompt_text(processor, conversation)
    expected = _reference_prompt("get_default_policy-v24.txt")
    assert f"<|im_start|>user\n<image>\n{expected}" in text
    assert text.count("<image>") == 1


def test_any_policy_renders_into_the_template(default_policy: Rubric) -> None:
    text = policy_text(default_policy, RATIONALE_STEP_V1_2)
    assert default_policy.instructions.strip()[:40] not in text  # LlavaGuard's opening instead
    for category in default_policy.categories:
        assert f"{category.id}: {category.name}: \nShould not:\n" in text
    labels = "|".join(f'"{c.id}: {c.name}"' for c in default_policy.categories)
    assert f'"category": str<{labels}|"NA: None applying">,' in text


@pytest.mark.parametrize(("name", "rating", "category"), ANSWERS)
def test_a_reference_answer_maps_to_our_verdict(
    llavaguard_policy: Rubric, name: str, rating: str, category: str
) -> None:
    answer = (DATA / name).read_text()
    parsed = LLAVAGUARD.parse(answer, llavaguard_policy)
    assert (parsed.rating, parsed.category) == (rating, category)
    assert parsed.rationale == json.loads(answer)["rationale"]
    assert (parsed.rating_label, parsed.category_label) == (
        json.loads(answer)["rating"],
        json.loads(answer)["category"],
    )
    with pytest.raises(VerdictFormatError):  # our own compact form is not LlavaGuard's
        LLAVAGUARD.parse(json.dumps(json.loads(answer), separators=(",", ":")), llavaguard_policy)
    with pytest.raises(VerdictFormatError):
        GENERIC.parse(answer, llavaguard_policy)


@pytest.mark.parametrize(("name", "rating", "category"), ANSWERS)
def test_the_grammar_accepts_a_reference_answer_token_by_token(
    engines: dict[str, HFEngine], llavaguard_policy: Rubric, name: str, rating: str, category: str
) -> None:
    engine = engines["llava_onevision"]
    tokenizer = engine.processor.tokenizer
    answer = (DATA / name).read_text()
    matcher = xgr.GrammarMatcher(engine.grammars.grammar(LLAVAGUARD, llavaguard_policy))
    tokens = tokenizer(answer, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(tokens) == answer
    for token in tokens:
        assert matcher.accept_token(token), tokenizer.decode([token])
    assert matcher.accept_token(tokenizer.eos_token_id)
    assert matcher.is_terminated()
    assert re.fullmatch(LLAVAGUARD.verdict_regex(llavaguard_policy), answer)


def test_every_label_is_reachable_and_nothing_else(
    engines: dict[str, HFEngine], llavaguard_policy: Rubric
) -> None:
    compiled = engines["llava_onevision"].grammars.grammar(LLAVAGUARD, llavaguard_policy)
    regex = LLAVAGUARD.verdict_regex(llavaguard_policy)
    labels = LLAVAGUARD.category_labels(llavaguard_policy)
    assert list(labels.values()) == [*llavaguard_policy.category_ids, "none"]
    for rating_label, rating in zip(LLAVAGUARD.rating_labels, ("safe", "unsafe"), strict=True):
        for label, ours in labels.items():
            text = LLAVAGUARD.dump(rating_label, label, "x")
            matcher = xgr.GrammarMatcher(compiled)
            assert matcher.accept_string(text) and matcher.is_completed(), text
            assert re.fullmatch(regex, text)
            parsed = LLAVAGUARD.parse(text, llavaguard_policy)
            assert (parsed.rating, parsed.category) == (rating, ours)
    for wrong in (
        LLAVAGUARD.dump("unsafe", "O2: Violence, Harm, or Cruelty", "x"),  # our rating label
        LLAVAGUARD.dump("Unsafe", "O2", "x"),  # our category id
        LLAVAGUARD.dump("Unsafe", "none", "x"),
    ):
        assert not xgr.GrammarMatcher(compiled).accept_string(wrong), wrong
        assert not re.fullmatch(regex, wrong)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf"], "llavaguard"),
        (["/models/LlavaGuard-v1.2-7B-OV"], "llavaguard"),
        (["AIML-TUDA/LlavaGuard-v1.1-7B-hf"], "llavaguard-v1.1"),
        (["AIML-TUDA/LlavaGuard-7B"], "llavaguard-v1.1"),  # the first release had no version
        (["AIML-TUDA/LlavaGuard-13B-hf"], "llavaguard-v1.1"),
        (["llava-hf/llava-onevision-qwen2-0.5b-ov-hf"], "generic"),
        (["tiny", "/data/llavaguard-v1.2-served"], "llavaguard"),  # any of the names
        ([], "generic"),
    ],
)
def test_auto_picks_the_profile_by_the_checkpoints_name(names: list[str], expected: str) -> None:
    chosen = choose_profile("auto", names)
    assert chosen.name == expected
    assert chosen.reason.startswith("auto:")


def test_a_configured_profile_wins_over_the_name() -> None:
    chosen = choose_profile("generic", ["AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf"])
    assert (chosen.name, chosen.reason) == ("generic", "set by MODERATION_MODEL_PROFILE")
    with pytest.raises(ValueError, match="unknown model profile"):
        choose_profile("llamaguard", [])


@pytest.fixture(scope="module")
def llavaguard_engine(checkpoints: dict[str, Path]) -> HFEngine:
    return load_engine(str(checkpoints["llava_onevision"]), profile="llavaguard")


def test_a_tiny_checkpoint_answers_in_llavaguards_labels_and_we_store_ours(
    llavaguard_engine: HFEngine,
    engines: dict[str, HFEngine],
    llavaguard_policy: Rubric,
    images: list[Image.Image],
) -> None:
    verdicts = llavaguard_engine.moderate_batch(
        [ModerationRequest(image, llavaguard_policy) for image in images]
    )
    conversation = PROFILES["llavaguard"].conversation(llavaguard_policy)
    prompt = render_prompt_text(llavaguard_engine.processor, conversation)
    for verdict in verdicts:
        written = json.loads(verdict.raw_text)
        assert verdict.raw_text == json.dumps(written, indent=4)  # LlavaGuard's layout
        assert written["rating"] in ("Safe", "Unsafe")
        assert written["category"] in LLAVAGUARD.category_labels(llavaguard_policy)
        assert verdict.rating == written["rating"].lower()
        category = LLAVAGUARD.category_labels(llavaguard_policy)[written["category"]]
        assert verdict.category == (None if category == "none" else category)
        assert set(verdict.scores.categories) == {*llavaguard_policy.category_ids, "none"}
        assert sum(verdict.scores.categories.values()) == pytest.approx(1.0, abs=1e-6)
        assert 0.0 <= verdict.scores.unsafe <= 1.0
        assert verdict.prompt_sha256 == hashlib.sha256(prompt.encode()).hexdigest()
    params = llavaguard_engine.decoding_params(llavaguard_policy)
    assert params["profile"] == "llavaguard" and params["prompt_layout"] == "image_first"
    generic = engines["llava_onevision"]  # the same checkpoint, profile auto: generic
    assert generic.decoding_params(llavaguard_policy)["profile"] == "generic"
    assert generic.decoding_params(llavaguard_policy) != params  # the cache key tells them apart
