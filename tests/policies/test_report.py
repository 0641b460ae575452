"""The backtest report's arithmetic on fixed verdicts, and the ETA."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from moderation.policies.backtest_report import ItemOutcome, build_report
from moderation.policies.backtests import eta_seconds
from moderation.policies.format import Outcome

SAFE = Outcome("allow", "safe", None)


def unsafe(category: str, action: str = "block") -> Outcome:
    return Outcome(action, "unsafe", category)


def item(n: int, expected: Outcome, draft: Outcome, baseline: Outcome) -> ItemOutcome:
    return ItemOutcome(f"item-{n}", f"/v1/moderations/{n}", expected, draft, baseline)


# expected → draft (baseline)
OUTCOMES = [
    item(1, unsafe("W1"), unsafe("W1"), unsafe("W1")),  # hit, both agree
    item(2, unsafe("W1"), unsafe("D1"), SAFE),  # W1 missed, D1 false positive; flip
    item(3, unsafe("D1"), unsafe("D1"), unsafe("D1")),  # hit
    item(4, SAFE, unsafe("W1", "review"), SAFE),  # W1 false positive; flip allow→review
    item(5, SAFE, SAFE, unsafe("D1")),  # agrees; flip block→allow
    item(6, unsafe("S1"), SAFE, SAFE),  # S1 missed
]


def test_per_category_precision_recall_and_count() -> None:
    report = build_report(["W1", "D1", "S1"], OUTCOMES)
    stats = {c.category: c for c in report.categories}
    assert [c.category for c in report.categories] == ["W1", "D1", "S1"]
    # W1: labelled in 1, 2; predicted in 1, 4 → 1 hit
    assert (stats["W1"].count, stats["W1"].predicted, stats["W1"].true_positives) == (2, 2, 1)
    assert stats["W1"].precision == pytest.approx(0.5) and stats["W1"].recall == 0.5
    # D1: labelled in 3; predicted in 2, 3 → 1 hit
    assert (stats["D1"].count, stats["D1"].predicted) == (1, 2)
    assert stats["D1"].precision == 0.5 and stats["D1"].recall == 1.0
    # S1: labelled once, never predicted: precision undefined, recall 0
    assert (stats["S1"].count, stats["S1"].precision, stats["S1"].recall) == (1, None, 0.0)


def test_agreement_with_reviewers_for_draft_and_active_version() -> None:
    report = build_report(["W1", "D1", "S1"], OUTCOMES)
    assert report.items == 6
    assert report.agreement == pytest.approx(3 / 6)  # items 1, 3, 5
    assert report.baseline_agreement == pytest.approx(3 / 6)  # items 1, 3, 4


def test_flips_are_the_items_whose_action_changes() -> None:
    report = build_report(["W1", "D1", "S1"], OUTCOMES)
    flips = [(f.label, f.link, f.baseline.action, f.draft.action) for f in report.flips]
    assert flips == [
        ("item-2", "/v1/moderations/2", "allow", "block"),
        ("item-4", "/v1/moderations/4", "allow", "review"),
        ("item-5", "/v1/moderations/5", "block", "allow"),
    ]


def test_a_category_only_in_the_labels_is_reported_and_no_baseline_means_no_flips() -> None:
    outcomes = [ItemOutcome("a", None, unsafe("OLD"), SAFE, None)]
    report = build_report(["W1"], outcomes)
    assert [c.category for c in report.categories] == ["W1", "OLD"]
    assert report.flips == [] and report.baseline_agreement is None
    assert report.agreement == 0.0
    empty = build_report(["W1"], [])
    assert (empty.items, empty.agreement, empty.categories[0].recall) == (0, None, None)


def test_eta_from_the_rate_so_far() -> None:
    start = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert eta_seconds(10, 0, start, None) is None
    assert eta_seconds(10, 4, start, start + timedelta(seconds=8)) == pytest.approx(12.0)
    assert eta_seconds(10, 10, start, start + timedelta(seconds=30)) == 0.0
