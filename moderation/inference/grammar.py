"""A rubric's verdict JSON schema: its xgrammar grammar, its length bound, its validation."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import xgrammar as xgr

from moderation.inference.rubric import NO_CATEGORY, Rubric

RATINGS = ("safe", "unsafe")
KEYS = ("rating", "category", "rationale")
# Printable ASCII without '"' and '\': the rationale's JSON text is then exactly its value, one
# character per byte, so its length bound is exact. (xgrammar's maxLength admits control
# characters and it admits malformed UTF-8 inside strings: a pattern avoids both.)
RATIONALE_CHARS = r"[ !#-\[\]-~]"
# Room after the longest JSON: the stop token, plus one spare step.
EOS_MARGIN = 2
_SEPARATORS = (",", ":")


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
    return json.dumps(verdict_schema(rubric), separators=_SEPARATORS)


def schema_sha256(rubric: Rubric) -> str:
    """sha256 of the canonical schema text (decoding provenance)."""
    return hashlib.sha256(schema_json(rubric).encode()).hexdigest()


def dump_verdict(rating: str, category: str, rationale: str) -> str:
    """A verdict in the compact form the grammar generates."""
    return json.dumps(
        {"rating": rating, "category": category, "rationale": rationale}, separators=_SEPARATORS
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


def tokenizer_info(
    tokenizer: Any, vocab_size: int, stop_token_ids: Sequence[int]
) -> xgr.TokenizerInfo:
    """xgrammar's view of the tokenizer, with special tokens (``<image>``...) never allowed.

    ``TokenizerInfo.from_huggingface`` treats added special tokens as text, so the grammar would
    admit e.g. ``<image>`` inside the rationale; an empty entry marks a token as unusable.
    """
    detected = xgr.TokenizerInfo.from_huggingface(
        tokenizer, vocab_size=vocab_size, stop_token_ids=list(stop_token_ids)
    )
    encoded = [""] * vocab_size
    for token, idx in tokenizer.get_vocab().items():
        if idx < vocab_size:
            encoded[idx] = token
    special = {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    for idx in special.union(tokenizer.all_special_ids) - set(stop_token_ids):
        if idx < vocab_size:
            encoded[idx] = ""
    return xgr.TokenizerInfo(
        encoded,
        detected.vocab_type,
        vocab_size=vocab_size,
        stop_token_ids=list(stop_token_ids),
        add_prefix_space=detected.add_prefix_space,
    )


class GrammarCache:
    """Compiled verdict grammars for one tokenizer, compiled once per schema and reused."""

    def __init__(self, tokenizer_info: xgr.TokenizerInfo, max_entries: int = 64) -> None:
        self.tokenizer_info = tokenizer_info
        # xgrammar's own cache crashes on the bounded-repeat rationale pattern: keep our own
        self._compiler = xgr.GrammarCompiler(tokenizer_info, cache_enabled=False)
        self._compiled: OrderedDict[str, xgr.CompiledGrammar] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def grammar(self, rubric: Rubric) -> xgr.CompiledGrammar:
        """The compiled grammar of the rubric's verdict schema."""
        key = schema_json(rubric)
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                return self._compiled[key]
            compiled = self._compiler.compile_json_schema(
                key, any_whitespace=False, separators=_SEPARATORS, strict_mode=True
            )
            self._compiled[key] = compiled
            if len(self._compiled) > self._max_entries:
                self._compiled.popitem(last=False)
            return compiled
