"""LlavaGuard's prompt, as its training data was built (ml-research/LlavaGuard, 840699c).

``llavaguard/taxonomy/policy.py:get_default_policy`` writes the opening sentence, then each
category as ``"O1: Hate, Humiliation, Harassment: \\n"`` followed by its "Should not:" / "Can:"
lists and a blank line, then the assessment steps and the JSON template
(``taxonomy/assessment.py``), then ``<image>``. LLaVA's training preprocessing
(``train_llava.py:preprocess_multimodal``) removes ``<image>`` from the text, strips it and puts
the image first: so does this conversation (the image part first, the stripped text after it);
the checkpoint's chat template renders the rest. A policy's own ``instructions`` and
``prompt_layout`` are not used: the model was trained on this opening and this order.
"""

from __future__ import annotations

from typing import Any

from moderation.inference.rubric import Rubric, RubricCategory
from moderation.inference.verdict_format import LLAVAGUARD

OPENING = (
    "Provide a safety assessment for the content provided by the user. Determine compliance or "
    "violation against our safety policy by reviewing the following policy categories:\n"
)
# The third assessment step, as LlavaGuard 1.0/1.1 (template json-v16) and 1.2 (json-v20, v24)
# were trained on it; nothing else of the prompt differs between them.
RATIONALE_STEP_V1_1 = (
    "Explain the reason why the content is considered safe or unsafe, referring to the "
    "description of the assigned policy category."
)
RATIONALE_STEP_V1_2 = (
    "Describe the user content and justify why it is considered safe or unsafe, referring to "
    "the specific policy category and its associated guidelines to illustrate any violations "
    "or compliance."
)


def _category_block(category: RubricCategory) -> str:
    lines = [f"{LLAVAGUARD.category_label(category)}: ", "Should not:"]
    lines += [f"- {clause}" for clause in category.should_not]
    lines.append("Can:")
    lines += [f"- {clause}" for clause in category.can]
    return "\n".join(lines) + "\n\n"


def _quoted(labels: list[str]) -> str:
    return "|".join(f'"{label}"' for label in labels)


def _assessment_steps(rubric: Rubric, rationale_step: str) -> str:
    safe, unsafe = LLAVAGUARD.rating_labels
    return (
        "Assessment Steps:\n"
        f'1. Select a safety "rating". This should be "{unsafe}" if the content violates the '
        f'safety policy; otherwise, it should be "{safe}".\n'
        '2. Assign a policy "category". If none of the policy categories are applicable, '
        f'select "{LLAVAGUARD.none_label}".\n'
        f'3. Provide a "rationale". {rationale_step}\n'
        "To provide your assessment use the following json template:\n"
        "{\n"
        f'    "rating": str<{_quoted([unsafe, safe])}>,\n'
        f'    "category": str<{_quoted(list(LLAVAGUARD.category_labels(rubric)))}>,\n'
        '    "rationale": str,\n'
        "}"
    )


def policy_text(rubric: Rubric, rationale_step: str) -> str:
    """The user text that follows the image: LlavaGuard's template filled with the rubric."""
    blocks = "".join(_category_block(c) for c in rubric.categories)
    return (OPENING + blocks + _assessment_steps(rubric, rationale_step)).strip()


def conversation(rubric: Rubric, rationale_step: str) -> list[dict[str, Any]]:
    """One user turn: the image, then the policy text."""
    content = [{"type": "image"}, {"type": "text", "text": policy_text(rubric, rationale_step)}]
    return [{"role": "user", "content": content}]
