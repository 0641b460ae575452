"""Actions follow the policy thresholds applied to the model's probabilities."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderation.policies.format import load_policy_file
from moderation.submissions.verdicts import decide

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = load_policy_file(ROOT / "policies" / "default.yaml")  # review_at 0.35, block_at 0.7
MARKET = load_policy_file(ROOT / "policies" / "marketplace.yaml")  # S1 -> review


def _cats(top: str, p: float = 0.6) -> dict[str, float]:
    others = [c for c in [*DEFAULT.category_ids, "none"] if c != top]
    return {top: p, **{c: (1 - p) / len(others) for c in others}}


@pytest.mark.parametrize(
    ("unsafe", "action", "rating", "category"),
    [
        (0.0, "allow", "safe", None),
        (0.3499, "allow", "safe", None),
        (0.35, "review", "unsafe", "O3"),
        (0.6999, "review", "unsafe", "O3"),
        (0.7, "block", "unsafe", "O3"),
        (1.0, "block", "unsafe", "O3"),
    ],
)
def test_thresholds(unsafe: float, action: str, rating: str, category: str | None) -> None:
    outcome = decide(DEFAULT, unsafe, _cats("O3"))
    assert (outcome.action, outcome.rating, outcome.category) == (action, rating, category)


def test_blocking_names_the_most_probable_real_category_even_if_none_leads() -> None:
    cats = {"none": 0.5, "O6": 0.3, **{c: 0.2 / 8 for c in DEFAULT.category_ids if c != "O6"}}
    assert decide(DEFAULT, 0.9, cats).category == "O6"


def test_category_action_review_is_honoured_above_block_at() -> None:
    cats = {"W1": 0.1, "D1": 0.1, "S1": 0.7, "none": 0.1}
    assert decide(MARKET, 0.95, cats).action == "review"
    cats = {"W1": 0.7, "D1": 0.1, "S1": 0.1, "none": 0.1}
    assert decide(MARKET, 0.95, cats).action == "block"
