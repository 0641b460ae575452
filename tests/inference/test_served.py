"""Reading a vLLM chat-completion choice: the verdict, its scores, and the answers we refuse.

The choices here are built in the shape vLLM 0.32 returns (checked against a real server in
tests/vllm/); the real round trip is tested there.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from PIL import Image

from moderation.inference.profiles import GENERIC_PROFILE, PROFILES
from moderation.inference.rubric import Rubric
from moderation.inference.served import (
    chat_messages,
    constraint,
    image_data_url,
    read_choice,
    served_prompt_sha256,
)
from moderation.inference.served_scores import FORBIDDEN_LOGPROB, served_tokens
from moderation.inference.types import EngineUnavailable
from moderation.inference.verdict_format import VerdictFormatError

EOS = "</s>"


def _entry(text: str, top: list[tuple[str, float]], padding: int = 2) -> dict[str, Any]:
    """A logprobs entry: the chosen token, its allowed alternatives, then forbidden ones."""
    listed = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in top]
    listed += [{"token": "x", "logprob": FORBIDDEN_LOGPROB, "bytes": [120]}] * padding
    chosen = next(p for t, p in top if t == text)
    return {
        "token": text,
        "logprob": math.log(chosen),
        "bytes": list(text.encode()),
        "top_logprobs": listed,
    }


def _forced(text: str) -> dict[str, Any]:
    return _entry(text, [(text, 1.0)])


def _choice(
    rating_step: list[tuple[str, float]], category_step: list[tuple[str, float]]
) -> dict[str, Any]:
    """``{"rating":"unsafe","category":"O2","rationale":"ok"}`` token by token, then EOS."""
    content = [
        _forced('{"rating":"'),
        _entry("unsafe", rating_step),
        _forced('","category":"'),
        _entry("O2", category_step),
        _forced('","rationale":"'),
        _forced("ok"),
        _forced('"}'),
        _forced(EOS),
    ]
    text = '{"rating":"unsafe","category":"O2","rationale":"ok"}'
    return {"finish_reason": "stop", "message": {"content": text}, "logprobs": {"content": content}}


def test_a_choice_becomes_a_verdict_with_scores_from_the_allowed_tokens(
    default_policy: Rubric,
) -> None:
    choice = _choice(
        [("unsafe", 0.6), ("safe", 0.3), ("s", 0.1)],
        [("O2", 0.5), ("O", 0.3), ("none", 0.2)],
    )
    verdict, complete = read_choice(GENERIC_PROFILE, default_policy, choice)
    assert complete
    assert (verdict.rating, verdict.category, verdict.rationale) == ("unsafe", "O2", "ok")
    assert verdict.raw_text == choice["message"]["content"]  # the stop token is not text
    assert verdict.scores.unsafe == pytest.approx(0.6)
    categories = verdict.scores.categories
    assert set(categories) == {*default_policy.category_ids, "none"}
    assert sum(categories.values()) == pytest.approx(1.0, abs=1e-9)
    # "O" is consistent with every O-category: its 0.3 is split among them, O2 keeps 0.5 more
    others = [c for c in default_policy.category_ids if c != "O2"]
    share = 0.3 / len(default_policy.category_ids)
    assert categories["O2"] == pytest.approx(0.5 + share)
    assert all(categories[c] == pytest.approx(share) for c in others)
    assert categories["none"] == pytest.approx(0.2)
    assert verdict.prompt_sha256 == served_prompt_sha256(GENERIC_PROFILE, default_policy)


def test_under_the_llavaguard_profile_scores_are_read_at_its_labels(
    llavaguard_policy: Rubric,
) -> None:
    """``{"rating": "Unsafe", "category": "O2: Violence, Harm, or Cruelty", ...}`` indented."""
    content = [
        _forced('{\n    "rating": "'),
        _entry("Un", [("Un", 0.6), ("Safe", 0.4)]),
        _forced("safe"),
        _forced('",\n    "category": "'),
        _entry("O", [("O", 0.7), ("NA", 0.3)]),
        _entry("2", [("2", 0.5), ("1", 0.5)]),
        _forced(": Violence, Harm, or Cruelty"),
        _forced('",\n    "rationale": "'),
        _forced("ok"),
        _forced('"\n}'),
        _forced(EOS),
    ]
    text = "".join(entry["token"] for entry in content[:-1])
    choice = {
        "finish_reason": "stop",
        "message": {"content": text},
        "logprobs": {"content": content},
    }
    profile = PROFILES["llavaguard"]
    verdict, complete = read_choice(profile, llavaguard_policy, choice)
    assert complete
    assert (verdict.rating, verdict.category, verdict.raw_text) == ("unsafe", "O2", text)
    assert verdict.scores.unsafe == pytest.approx(0.6)
    expected = dict.fromkeys([*llavaguard_policy.category_ids, "none"], 0.0)
    expected.update({"O1": 0.35, "O2": 0.35, "none": 0.3})
    assert verdict.scores.categories == pytest.approx(expected)
    # vLLM's JSON-schema mode writes no indentation: the same language goes as a regex
    assert list(constraint(profile.answer, llavaguard_policy)) == ["structured_outputs"]


def test_a_cut_list_where_a_value_starts_makes_the_answer_incomplete(
    default_policy: Rubric,
) -> None:
    choice = _choice([("unsafe", 0.6), ("safe", 0.3)], [("O2", 1.0)])
    choice["logprobs"]["content"][1] = _entry("unsafe", [("unsafe", 0.6), ("safe", 0.3)], 0)
    _, complete = read_choice(GENERIC_PROFILE, default_policy, choice)
    assert not complete  # VLLMEngine asks again with the server's maximum


def test_a_list_without_forbidden_tokens_may_be_cut_and_says_so() -> None:
    cut = _entry("a", [("a", 0.7), ("b", 0.2)], padding=0)
    full = _entry("a", [("a", 0.7), ("b", 0.3)])
    tokens = served_tokens({"content": [cut, full]})
    assert [t.complete for t in tokens] == [False, True]
    assert [len(t.candidates) for t in tokens] == [2, 2]  # forbidden ones are dropped


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"finish_reason": "length"}, "not by a stop token"),
        ({"logprobs": None}, "no logprobs"),
        (
            {"logprobs": {"content": [{"token": "{", "logprob": 0.0, "top_logprobs": []}]}},
            "no top_logprobs",
        ),
    ],
    ids=["cut-by-the-budget", "no-logprobs", "no-top-logprobs"],
)
def test_an_answer_without_what_scores_need_is_an_error(
    default_policy: Rubric, change: dict[str, Any], message: str
) -> None:
    choice = {**_choice([("unsafe", 1.0)], [("O2", 1.0)]), **change}
    with pytest.raises(VerdictFormatError, match=message):
        read_choice(GENERIC_PROFILE, default_policy, choice)


def test_text_outside_the_schema_is_an_error(default_policy: Rubric) -> None:
    choice = _choice([("unsafe", 1.0)], [("O2", 1.0)])
    choice["logprobs"]["content"][3] = _forced("O99")
    with pytest.raises(VerdictFormatError, match="O99"):
        read_choice(GENERIC_PROFILE, default_policy, choice)


def test_the_request_carries_the_in_process_conversation_with_a_lossless_image(
    default_policy: Rubric,
) -> None:
    image = Image.new("RGB", (40, 30), (10, 200, 30))
    url = image_data_url(image)
    assert url.startswith("data:image/png;base64,")
    messages = chat_messages(GENERIC_PROFILE, default_policy, url)
    (part,) = [p for p in messages[0]["content"] if p["type"] == "image_url"]
    assert part["image_url"]["url"] == url
    assert not [p for p in messages[0]["content"] if p["type"] == "image"]


def test_a_huge_image_travels_scaled_down() -> None:
    import base64
    import io

    url = image_data_url(Image.new("RGB", (5000, 100)), max_side=1000)
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (1000, 20)


def test_an_unreachable_server_is_unavailable_not_an_image_error() -> None:
    from moderation.inference.served import VLLMEngine
    from tests.support.processes import free_port

    engine = VLLMEngine(f"http://127.0.0.1:{free_port()}/v1", timeout_s=2)
    with pytest.raises(EngineUnavailable):
        engine.ready()
