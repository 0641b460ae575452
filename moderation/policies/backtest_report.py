"""The arithmetic of a backtest report: per-category precision and recall, agreement with the
reviewers, and the items whose action would flip from the active version to the draft."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from moderation.policies.format import Outcome


@dataclass(frozen=True)
class ItemOutcome:
    """One labelled item: what the reviewer (or label) says, the draft, and the baseline."""

    label: str
    link: str | None
    expected: Outcome | None  # rating and category; action unused
    draft: Outcome
    baseline: Outcome | None  # None when there is no active version to compare with


@dataclass(frozen=True)
class CategoryStats:
    """Precision and recall of the draft for one category (None where undefined: 0/0)."""

    category: str
    count: int  # items the reviewers put in this category
    predicted: int  # items the draft put in this category
    true_positives: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True)
class Flip:
    """An item whose action differs between the active version and the draft."""

    label: str
    link: str | None
    baseline: Outcome
    draft: Outcome
    expected: Outcome | None


@dataclass(frozen=True)
class Report:
    """A backtest's report over its finished items."""

    items: int
    categories: list[CategoryStats]
    agreement: float | None  # the draft agrees with the reviewers
    baseline_agreement: float | None  # the active version agrees with the reviewers
    flips: list[Flip] = field(default_factory=list)


def agrees(expected: Outcome, got: Outcome) -> bool:
    """Same rating and, when unsafe, the same category."""
    if expected.rating != got.rating:
        return False
    return expected.rating == "safe" or expected.category == got.category


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def category_stats(category: str, outcomes: Sequence[ItemOutcome]) -> CategoryStats:
    """Precision and recall of the draft for ``category`` against the expected labels."""
    labelled = [o for o in outcomes if o.expected is not None]
    count = sum(_in(o.expected, category) for o in labelled)
    predicted = sum(_in(o.draft, category) for o in labelled)
    hits = sum(_in(o.expected, category) and _in(o.draft, category) for o in labelled)
    return CategoryStats(
        category, count, predicted, hits, _ratio(hits, predicted), _ratio(hits, count)
    )


def _in(judgement: Outcome | None, category: str) -> bool:
    return judgement is not None and judgement.rating == "unsafe" and judgement.category == category


def _agreement(pairs: list[tuple[Outcome, Outcome]]) -> float | None:
    return _ratio(sum(agrees(e, g) for e, g in pairs), len(pairs))


def build_report(category_ids: Sequence[str], outcomes: Sequence[ItemOutcome]) -> Report:
    """The report over ``outcomes`` for the draft's categories (plus any labelled elsewhere)."""
    labelled = [o for o in outcomes if o.expected is not None]
    seen = [o.expected.category for o in labelled if o.expected and o.expected.category]
    categories = list(dict.fromkeys([*category_ids, *seen]))
    with_baseline = [(o.expected, o.baseline) for o in labelled if o.baseline is not None]
    flips = [
        Flip(o.label, o.link, o.baseline, o.draft, o.expected)
        for o in outcomes
        if o.baseline is not None and o.baseline.action != o.draft.action
    ]
    return Report(
        items=len(outcomes),
        categories=[category_stats(c, outcomes) for c in categories],
        agreement=_agreement([(o.expected, o.draft) for o in labelled if o.expected]),
        baseline_agreement=_agreement([(e, b) for e, b in with_baseline if e]),
        flips=flips,
    )
