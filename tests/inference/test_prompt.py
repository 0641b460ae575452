"""The rubric text and the templated prompt."""

from __future__ import annotations

from dataclasses import replace

from moderation.inference import HFEngine
from moderation.inference.prompt import (
    POLICY_FIRST_TAIL,
    conversation,
    render_prompt_text,
    rubric_text,
)
from moderation.inference.rubric import Rubric


def test_rubric_has_every_category_and_clause(default_policy: Rubric) -> None:
    text = rubric_text(default_policy)
    assert text.startswith(default_policy.instructions.strip())
    for category in default_policy.categories:
        assert f"{category.id}: {category.name}" in text
        for clause in (*category.should_not, *category.can):
            assert f"- {clause}" in text
    assert '"category": "O1" | "O2"' in text
    assert "at most 300 characters" in text


def test_image_first_layout(engines: dict[str, HFEngine], default_policy: Rubric) -> None:
    text = render_prompt_text(engines["llava"].processor, conversation(default_policy))
    assert text.count("<image>") == 1
    assert text.index("<image>") < text.index(default_policy.instructions.strip()[:40])
    assert text.endswith("ASSISTANT:")


def test_policy_first_layout(engines: dict[str, HFEngine], default_policy: Rubric) -> None:
    policy = replace(default_policy, prompt_layout="policy_first")
    text = render_prompt_text(engines["llava_onevision"].processor, conversation(policy))
    rubric_at = text.index(default_policy.instructions.strip()[:40])
    assert rubric_at < text.index("<image>") < text.index(POLICY_FIRST_TAIL)
    assert text.endswith("<|im_start|>assistant\n")
