"""A rubric's verdict grammar for xgrammar: the tokenizer's view, compiled grammars, cached."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import xgrammar as xgr

from moderation.inference.rubric import Rubric
from moderation.inference.verdict_format import VerdictFormat


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

    def grammar(self, answer: VerdictFormat, rubric: Rubric) -> xgr.CompiledGrammar:
        """The compiled grammar of the rubric's verdict schema in the format's layout."""
        key = answer.grammar_key(rubric)
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                return self._compiled[key]
            compiled = self._compiler.compile_json_schema(
                answer.schema_json(rubric),
                any_whitespace=False,
                indent=answer.indent,
                separators=answer.separators,
                strict_mode=True,
            )
            self._compiled[key] = compiled
            if len(self._compiled) > self._max_entries:
                self._compiled.popitem(last=False)
            return compiled
