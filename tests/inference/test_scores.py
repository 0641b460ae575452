"""The scores walk as a pure function over hand-made distributions."""

from __future__ import annotations

import pytest

from moderation.inference.scores import (
    ScoreError,
    Step,
    consistent_values,
    value_probabilities,
    value_start_step,
)

RATINGS = ["safe", "unsafe"]
CATEGORIES = ["O1", "O2", "O3", "none"]


def test_single_step_sums_tokens_per_value() -> None:
    step = Step([("safe", 0.5), ("s", 0.2), ("unsafe", 0.1), ("un", 0.2)], chosen=0)
    probs = value_probabilities(RATINGS, [step])
    assert probs == pytest.approx({"safe": 0.7, "unsafe": 0.3})


def test_tokens_that_close_the_value_count() -> None:
    step = Step([('safe","', 0.6), ('unsafe"', 0.4)], chosen=1)
    assert value_probabilities(RATINGS, [step]) == pytest.approx({"safe": 0.6, "unsafe": 0.4})


def test_shared_prefix_walks_the_greedy_path() -> None:
    # "O" is shared by O1..O3: its mass is split at the next step along the greedy path
    first = Step([("O", 0.6), ("none", 0.3), ("n", 0.1)], chosen=0)
    second = Step([("1", 0.5), ("2", 0.25), ("3", 0.25)], chosen=0)
    probs = value_probabilities(CATEGORIES, [first, second])
    assert probs == pytest.approx({"O1": 0.3, "O2": 0.15, "O3": 0.15, "none": 0.4})
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-9)


def test_non_greedy_shared_prefix_splits_equally() -> None:
    # greedy "none" settles at once; the non-greedy "O" is split over O1..O3 equally
    step = Step([("none", 0.7), ("O", 0.3)], chosen=0)
    probs = value_probabilities(CATEGORIES, [step])
    assert probs == pytest.approx({"O1": 0.1, "O2": 0.1, "O3": 0.1, "none": 0.7})


def test_prefix_value_needs_the_closing_quote() -> None:
    # "O1" is a prefix of "O10": only the closing quote (or a further digit) decides
    values = ["O1", "O10", "none"]
    first = Step([("O1", 0.8), ("none", 0.2)], chosen=0)
    second = Step([('"', 0.75), ("0", 0.25)], chosen=0)
    probs = value_probabilities(values, [first, second])
    assert probs == pytest.approx({"O1": 0.6, "O10": 0.2, "none": 0.2})


def test_lead_skips_key_characters_in_the_first_token() -> None:
    # the first token starts two characters before the value: ':"' then the value
    step = Step([(':"safe', 0.2), (':"', 0.4), (':"un', 0.4)], chosen=2)
    probs = value_probabilities(RATINGS, [step], lead=2)
    # ':"' fits both values and is not greedy: split equally
    assert probs == pytest.approx({"safe": 0.4, "unsafe": 0.6})


def test_tokens_off_the_greedy_path_before_the_value_are_dropped() -> None:
    # the category value starts inside the greedy token 'e","category":"O'; the alternative
    # 'e"' agrees with it before the value (split equally), 'x' leaves the path (dropped)
    lead = len('e","category":"')
    first = Step([('e","category":"O', 0.5), ('e"', 0.25), ("x", 0.25)], chosen=0)
    second = Step([("1", 1.0)], chosen=0)
    probs = value_probabilities(["O1", "O2"], [first, second], lead=lead)
    # kept mass 0.75: O-path 0.5 -> O1; 'e"' 0.25 split over O1/O2
    assert probs == pytest.approx({"O1": (0.5 + 0.125) / 0.75, "O2": 0.125 / 0.75})


def test_unnormalised_steps_are_renormalised() -> None:
    step = Step([("safe", 2.0), ("unsafe", 6.0)], chosen=1)
    assert value_probabilities(RATINGS, [step]) == pytest.approx({"safe": 0.25, "unsafe": 0.75})


def test_greedy_token_outside_the_values_is_an_error() -> None:
    with pytest.raises(ScoreError):
        value_probabilities(RATINGS, [Step([("x", 1.0)], chosen=0)])


def test_unsettled_path_is_an_error() -> None:
    with pytest.raises(ScoreError, match="does not settle"):
        value_probabilities(CATEGORIES, [Step([("O", 1.0)], chosen=0)])


def test_value_start_step_finds_the_token_and_lead() -> None:
    tokens = ['{"', "rating", '":"', "uns", "afe"]
    assert value_start_step(tokens, len('{"rating":"')) == (3, 0)
    assert value_start_step(['{"rating":', '"s', "afe"], len('{"rating":"')) == (1, 1)
    with pytest.raises(ScoreError):
        value_start_step(["{"], 5)


def test_consistent_values() -> None:
    assert consistent_values(CATEGORIES, "") == CATEGORIES
    assert consistent_values(CATEGORIES, "O") == ["O1", "O2", "O3"]
    assert consistent_values(CATEGORIES, 'O2","rat') == ["O2"]
    assert consistent_values(CATEGORIES, "x") == []
