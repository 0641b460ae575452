"""P(value) of an enum field, from the model's grammar-masked token distributions (pure, no torch).

See docs/scores.md. At each generation step of a field's value we know the greedy token and the
renormalised distribution over the tokens the grammar allowed. Walking down the greedy path:

- a token consistent with exactly one remaining value gives its mass to that value;
- a non-greedy token consistent with several values splits its mass equally among them;
- the greedy token's mass, while still consistent with several values, is split at the next step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from moderation.inference.rubric import Rubric
from moderation.inference.types import Scores
from moderation.inference.verdict_format import VerdictFormat

# A value ends with the closing quote of its JSON string; ids never contain one.
TERMINATOR = '"'


@dataclass(frozen=True)
class Step:
    """One generation step: the allowed tokens' texts and probabilities, and the greedy one."""

    candidates: Sequence[tuple[str, float]]
    chosen: int  # index into candidates


class ScoreError(ValueError):
    """The recorded steps do not describe a greedy path through one of the values."""


def value_start_step(token_texts: Sequence[str], value_start: int) -> tuple[int, int]:
    """(step whose greedy token holds character ``value_start``, characters before it in it)."""
    offset = 0
    for step, text in enumerate(token_texts):
        if offset + len(text) > value_start:
            return step, value_start - offset
        offset += len(text)
    raise ScoreError(f"the generated text ends before character {value_start}")


def consistent_values(values: Sequence[str], text: str) -> list[str]:
    """Values whose quoted form starts with ``text``, or which ``text`` completes."""
    return [
        v for v in values if (v + TERMINATOR).startswith(text) or text.startswith(v + TERMINATOR)
    ]


def _on_greedy_path(step: Step, lead: int) -> Step:
    """Keep the tokens that agree with the greedy token before the value starts.

    A token that leaves the greedy path before the value (say a different rating, when the
    token that starts the category value also holds the end of the rating) is about another
    field: it is dropped, and the step renormalised over the rest.
    """
    head = step.candidates[step.chosen][0][:lead]
    kept = [i for i, (text, _) in enumerate(step.candidates) if head.startswith(text[:lead])]
    return Step([step.candidates[i] for i in kept], kept.index(step.chosen))


def value_probabilities(
    values: Sequence[str], steps: Sequence[Step], lead: int = 0
) -> dict[str, float]:
    """P(value) for each value; ``lead``: characters of the first step's tokens before it."""
    probs = dict.fromkeys(values, 0.0)
    alive: list[str] = list(values)
    prefix = ""
    mass = 1.0
    for index, raw_step in enumerate(steps):
        skip = lead if index == 0 else 0
        step = _on_greedy_path(raw_step, skip)
        total = sum(p for _, p in step.candidates)
        if total <= 0:
            raise ScoreError(f"step {index} has no probability mass")
        chosen_text, chosen_p = step.candidates[step.chosen]
        for i, (text, p) in enumerate(step.candidates):
            matches = consistent_values(alive, prefix + text[skip:])
            if i != step.chosen and matches:
                for v in matches:
                    probs[v] += mass * p / total / len(matches)
        greedy = consistent_values(alive, prefix + chosen_text[skip:])
        if not greedy:
            raise ScoreError(f"greedy token {chosen_text!r} fits no value after {prefix!r}")
        if len(greedy) == 1:
            probs[greedy[0]] += mass * chosen_p / total
            return _normalised(probs)
        mass *= chosen_p / total
        alive, prefix = greedy, prefix + chosen_text[skip:]
    raise ScoreError(f"the greedy path {prefix!r} does not settle on one of {list(alive)}")


def _normalised(probs: dict[str, float]) -> dict[str, float]:
    # tokens consistent with no value (the grammar rules them out) would leave mass unassigned
    total = sum(probs.values())
    if total <= 0:
        raise ScoreError("no probability mass on any value")
    return {v: p / total for v, p in probs.items()}


# Where a field's value starts (its first byte) → the steps from there, and the characters of
# the first step's token before the value.
FieldSteps = Callable[[int], tuple[list[Step], int]]


def verdict_scores(
    answer: VerdictFormat, rubric: Rubric, rating_label: str, field_steps: FieldSteps
) -> Scores:
    """P(unsafe) and P(category | greedy rating), read at the format's label tokens and
    reported under our category ids."""
    rating_values = answer.rating_values()
    ratings = value_probabilities(rating_values, *field_steps(len(answer.rating_prefix())))
    steps, lead = field_steps(len(answer.category_prefix(rating_label)))
    by_value = value_probabilities(answer.category_values(rubric), steps, lead)
    ours = answer.ours_by_value(rubric)
    return Scores(
        unsafe=ratings[rating_values[1]],  # the label of "unsafe" (RATINGS order)
        categories={ours[value]: p for value, p in by_value.items()},
    )
