"""Scores from a server's chat-completion logprobs (pure, no torch): the method of docs/scores.md.

vLLM applies the grammar's token bitmask to the logits before it computes the logprobs it returns
(``--logprobs-mode raw_logprobs``, its default), so each step's ``top_logprobs`` is the model's
distribution renormalised over the tokens the grammar allows, best first; forbidden tokens come
back clamped to -9999. A step is complete when a forbidden token shows up in its list (every
allowed one came before it); otherwise the list may have cut allowed tokens of tiny mass, and the
scores are read from the ones it holds (renormalised; docs/scores.md says how close that is).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moderation.inference import scores
from moderation.inference.rubric import Rubric
from moderation.inference.scores import Step, value_start_step
from moderation.inference.types import Scores
from moderation.inference.verdict_format import (
    ParsedVerdict,
    VerdictFormat,
    VerdictFormatError,
    value_text,
)

# vLLM's floor for a logprob (it clamps -inf to this); anything at or below it is forbidden.
FORBIDDEN_LOGPROB = -9999.0


@dataclass(frozen=True)
class ServedToken:
    """One generated token as the server reports it: its text, and the allowed alternatives."""

    text: str
    candidates: tuple[tuple[str, float], ...]  # (text, probability), allowed tokens only
    complete: bool  # every allowed token is among the candidates


def _text(entry: dict[str, Any]) -> str:
    raw = entry.get("bytes")
    if raw is None:
        return str(entry["token"])
    # one character per byte, as the in-process engine reads token texts
    return bytes(raw).decode("latin-1")


def served_tokens(logprobs: dict[str, Any] | None) -> list[ServedToken]:
    """The generated tokens of a chat-completion choice's ``logprobs`` block."""
    content = (logprobs or {}).get("content")
    if not content:
        raise VerdictFormatError("the server's answer carries no logprobs")
    tokens = []
    for entry in content:
        top = entry.get("top_logprobs") or []
        if not top:
            raise VerdictFormatError("the server's answer carries no top_logprobs")
        candidates = tuple(
            (_text(t), math.exp(t["logprob"])) for t in top if t["logprob"] > FORBIDDEN_LOGPROB
        )
        complete = len(candidates) < len(top)
        text = _text(entry)
        if text not in (t for t, _ in candidates):  # a tie the list broke the other way
            candidates += ((text, math.exp(entry["logprob"])),)
        tokens.append(ServedToken(text, candidates, complete))
    return tokens


def _field_steps(tokens: Sequence[ServedToken], value_start: int) -> tuple[list[Step], int]:
    first, lead = value_start_step([t.text for t in tokens], value_start)
    steps = []
    for token in tokens[first:]:
        texts = [text for text, _ in token.candidates]
        steps.append(Step(token.candidates, texts.index(token.text)))
    return steps, lead


def value_steps_complete(
    answer: VerdictFormat, tokens: Sequence[ServedToken], parsed: ParsedVerdict
) -> bool:
    """Whether every step the scores read (from the rating value's first token to the category
    value's closing quote) lists all the tokens the grammar allowed there."""
    texts = [t.text for t in tokens]
    first, _ = value_start_step(texts, len(answer.rating_prefix()))
    start = len(answer.category_prefix(parsed.rating_label))
    last, _ = value_start_step(texts, start + len(value_text(parsed.category_label)))
    return all(t.complete for t in tokens[first : last + 1])


def served_scores(
    answer: VerdictFormat, rubric: Rubric, parsed: ParsedVerdict, tokens: Sequence[ServedToken]
) -> Scores:
    """P(unsafe) and P(category | greedy rating), as ``decoding.verdict_scores`` reads them."""

    def field_steps(value_start: int) -> tuple[list[Step], int]:
        return _field_steps(tokens, value_start)

    return scores.verdict_scores(answer, rubric, parsed.rating_label, field_steps)
