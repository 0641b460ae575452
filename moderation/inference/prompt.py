"""Our own moderation prompt (the generic profile): a policy's rubric and the image, and the
chat template that renders any profile's conversation."""

from __future__ import annotations

import hashlib
from typing import Any

from moderation.inference.rubric import Rubric, RubricCategory
from moderation.inference.verdict_format import GENERIC

POLICY_FIRST_TAIL = "Answer in JSON."


def _category_text(category: RubricCategory) -> str:
    lines = [f"{category.id}: {category.name}", "Should not:"]
    lines += [f"- {clause}" for clause in category.should_not]
    lines.append("Can:")
    lines += [f"- {clause}" for clause in category.can]
    return "\n".join(lines)


def _answer_format(rubric: Rubric) -> str:
    ratings = " | ".join(f'"{r}"' for r in GENERIC.rating_labels)
    categories = " | ".join(f'"{c}"' for c in GENERIC.category_labels(rubric))
    return (
        "Answer with one JSON object and nothing else:\n"
        f'{{"rating": {ratings}, "category": {categories}, "rationale": "..."}}\n'
        f"The rationale has at most {rubric.rationale_max_chars} characters of plain ASCII, "
        "without double quotes or backslashes."
    )


def rubric_text(rubric: Rubric) -> str:
    """The rubric rendered as text: instructions, categories, then the answer format."""
    sections = [rubric.instructions.strip(), "Policy categories:"]
    sections += [_category_text(c) for c in rubric.categories]
    sections.append(_answer_format(rubric))
    return "\n\n".join(sections)


def conversation(rubric: Rubric) -> list[dict[str, Any]]:
    """One user turn holding the image and the rubric, in the rubric's layout."""
    image: dict[str, Any] = {"type": "image"}
    text = {"type": "text", "text": rubric_text(rubric)}
    if rubric.prompt_layout == "policy_first":
        content = [text, image, {"type": "text", "text": POLICY_FIRST_TAIL}]
    else:
        content = [image, text]
    return [{"role": "user", "content": content}]


def render_prompt_text(processor: Any, messages: list[dict[str, Any]]) -> str:
    """The exact text fed to the processor: a profile's conversation through the checkpoint's
    chat template (image placeholder included)."""
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    if not isinstance(text, str):
        raise TypeError(f"chat template returned {type(text).__name__}, expected str")
    return text


def prompt_sha256(text: str) -> str:
    """sha256 of a rendered prompt (provenance)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
