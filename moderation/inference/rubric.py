"""What an engine reads of a policy: the rubric as plain values that inference owns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NO_CATEGORY = "none"  # the category value of a verdict where no category applies
PromptLayout = Literal["image_first", "policy_first"]


@dataclass(frozen=True)
class RubricCategory:
    """One category of a rubric: what the image should not show and what it can show."""

    id: str
    name: str
    should_not: tuple[str, ...]
    can: tuple[str, ...]


@dataclass(frozen=True)
class Rubric:
    """A policy as the engine sees it; ``version`` names it (caches key on it)."""

    version: str
    instructions: str
    categories: tuple[RubricCategory, ...]
    rationale_max_chars: int
    prompt_layout: PromptLayout = "image_first"

    @property
    def category_ids(self) -> list[str]:
        """Category ids in rubric order."""
        return [c.id for c in self.categories]


# A small rubric that engines warm up with for warm-up only: its verdicts are thrown away.
WARM_UP_RUBRIC = Rubric(
    version="warm-up",
    instructions="Judge the image.",
    categories=(RubricCategory(id="X1", name="Anything", should_not=("x",), can=("y",)),),
    rationale_max_chars=20,
)
