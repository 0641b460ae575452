"""A rubric's verdict JSON: its schema, its compact text, its length bound, its validation.

Pure Python (no torch, no xgrammar): the vLLM client reads it as the in-process engine does."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from moderation.inference.rubric import NO_CATEGORY, Rubric

RATINGS = ("safe", "unsafe")
KEYS = ("rating", "category", "rationale")
# Printable ASCII without '"' and '\': the rationale's JSON text is then exactly its value, one
# character per byte, so its length bound is exact. (xgrammar's maxLength admits control
# characters and it admits malformed UTF-8 inside strings: a pattern avoids both.)
RATIONALE_CHARS = r"[ !#-\[\]-~]"
# Room after the longest JSON: the stop token, plus one spare step.
EOS_MARGIN = 2
SEPARATORS = (",", ":")


class VerdictFormatError(ValueError):
    """The generated text is not a verdict that the rubric's schema admits."""


@dataclass(frozen=True)
class ParsedVerdict:
    """The three fields of a verdict as decoded."""

    rating: str
    category: str
    rationale: str


def category_values(rubric: Rubric) -> list[str]:
    """The values the ``category`` field may take: the rubric's ids, then ``none``."""
    return [*rubric.category_ids, NO_CATEGORY]


def verdict_schema(rubric: Rubric) -> dict[str, Any]:
    """JSON schema of a verdict under ``rubric``: rating, category, rationale, in this order."""
    return {
        "type": "object",
        "properties": {
            "rating": {"type": "string", "enum": list(RATINGS)},
            "category": {"type": "string", "enum": category_values(rubric)},
            "rationale": {
                "type": "string",
                "pattern": f"^{RATIONALE_CHARS}{{0,{rubric.rationale_max_chars}}}$",
            },
        },
        "required": list(KEYS),
        "additionalProperties": False,
    }


def schema_json(rubric: Rubric) -> str:
    """The schema as JSON text (the grammar cache key); key order matters: it fixes field order."""
    return json.dumps(verdict_schema(rubric), separators=SEPARATORS)


def schema_sha256(rubric: Rubric) -> str:
    """sha256 of the canonical schema text (decoding provenance)."""
    return hashlib.sha256(schema_json(rubric).encode()).hexdigest()


def dump_verdict(rating: str, category: str, rationale: str) -> str:
    """A verdict in the compact form the grammar generates."""
    return json.dumps(
        {"rating": rating, "category": category, "rationale": rationale}, separators=SEPARATORS
    )


def max_verdict_chars(rubric: Rubric) -> int:
    """Length of the longest verdict the grammar admits (ASCII: characters = bytes)."""
    longest_id = max(category_values(rubric), key=len)
    rating = max(RATINGS, key=len)
    return len(dump_verdict(rating, longest_id, "x" * rubric.rationale_max_chars))


def max_new_tokens(rubric: Rubric) -> int:
    """A generation budget that can never cut a verdict: every token is at least one character."""
    return max_verdict_chars(rubric) + EOS_MARGIN


def rating_prefix() -> str:
    """The generated text before the rating value."""
    return '{"rating":"'


def category_prefix(rating: str) -> str:
    """The generated text before the category value, given the rating."""
    return f'{rating_prefix()}{rating}","category":"'


def category_close_chars(rubrics: Sequence[Rubric]) -> int:
    """Characters up to and including the category value's closing quote, worst case."""
    longest = max((len(v) for p in rubrics for v in category_values(p)), default=0)
    return len(category_prefix(max(RATINGS, key=len))) + longest + 1


def parse_verdict(text: str, rubric: Rubric) -> ParsedVerdict:
    """Validate generated text against the rubric's schema (json.loads + checks) and parse it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerdictFormatError(f"generated text is not JSON ({exc}): {text!r}") from exc
    if not isinstance(data, dict) or tuple(data) != KEYS:
        raise VerdictFormatError(f"expected an object with keys {KEYS} in order: {text!r}")
    rating, category, rationale = (data[k] for k in KEYS)
    if rating not in RATINGS:
        raise VerdictFormatError(f"rating {rating!r} is not one of {RATINGS}")
    if category not in category_values(rubric):
        raise VerdictFormatError(f"category {category!r} is not in policy {rubric.version}")
    if not isinstance(rationale, str) or not re.fullmatch(
        f"{RATIONALE_CHARS}{{0,{rubric.rationale_max_chars}}}", rationale
    ):
        raise VerdictFormatError(f"rationale breaks the policy's format: {rationale!r}")
    if dump_verdict(rating, category, rationale) != text:
        raise VerdictFormatError(f"verdict is not in the compact generated form: {text!r}")
    return ParsedVerdict(rating, category, rationale)


def public_category(parsed: ParsedVerdict) -> str | None:
    """The category as the Verdict reports it: None for ``none``."""
    return None if parsed.category == NO_CATEGORY else parsed.category
