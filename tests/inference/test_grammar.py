"""The verdict schema, its length bound, validation, and the compiled xgrammar grammar."""

from __future__ import annotations

import json

import pytest
import xgrammar as xgr

from moderation.inference import HFEngine
from moderation.inference.rubric import Rubric
from moderation.inference.verdict_format import GENERIC, VerdictFormatError

verdict_schema = GENERIC.verdict_schema
dump_verdict = GENERIC.dump
max_new_tokens = GENERIC.max_new_tokens
max_verdict_bytes = GENERIC.max_verdict_bytes
category_close_chars = GENERIC.category_close_chars
category_prefix = GENERIC.category_prefix
parse_verdict = GENERIC.parse


def test_schema_lists_ids_in_order_and_bounds_the_rationale(default_policy: Rubric) -> None:
    schema = verdict_schema(default_policy)
    assert list(schema["properties"]) == ["rating", "category", "rationale"]
    assert schema["properties"]["category"]["enum"] == [*default_policy.category_ids, "none"]
    assert schema["properties"]["rationale"]["pattern"].endswith("{0,300}$")
    assert "maxLength" not in schema["properties"]["rationale"]
    assert schema["additionalProperties"] is False


def test_max_new_tokens_covers_the_longest_verdict(default_policy: Rubric) -> None:
    longest = dump_verdict("unsafe", "none", "x" * 300)
    assert max_verdict_bytes(default_policy) == len(longest)
    assert max_new_tokens(default_policy) == len(longest) + 2


def test_category_close_chars(default_policy: Rubric, marketplace_policy: Rubric) -> None:
    expected = len(category_prefix("unsafe") + 'none"')
    assert category_close_chars([default_policy, marketplace_policy]) == expected


def test_parse_accepts_a_compact_verdict(default_policy: Rubric) -> None:
    parsed = parse_verdict(dump_verdict("unsafe", "O2", "Graphic injury."), default_policy)
    assert (parsed.rating, parsed.category, parsed.rationale) == ("unsafe", "O2", "Graphic injury.")


@pytest.mark.parametrize(
    "text",
    [
        '{"rating":"unsafe","category":"O2"',  # cut off
        '{"category":"O2","rating":"unsafe","rationale":""}',  # key order
        '{"rating":"maybe","category":"O2","rationale":""}',
        '{"rating":"safe","category":"W1","rationale":""}',  # not in this policy
        '{"rating":"safe","category":"none","rationale":"' + "x" * 301 + '"}',
        '{"rating":"safe","category":"none","rationale":"tab\\there"}',
        '{"rating": "safe","category":"none","rationale":""}',  # not compact
        '{"rating":"safe","category":"none","rationale":"","extra":1}',
    ],
)
def test_parse_rejects_what_the_schema_forbids(text: str, default_policy: Rubric) -> None:
    with pytest.raises(VerdictFormatError):
        parse_verdict(text, default_policy)


def _accepts(compiled: xgr.CompiledGrammar, text: str) -> bool:
    matcher = xgr.GrammarMatcher(compiled)
    return bool(matcher.accept_string(text)) and matcher.is_completed()


def test_grammar_admits_exactly_the_schema(
    engines: dict[str, HFEngine], default_policy: Rubric
) -> None:
    cache = engines["llava"].grammars
    compiled = cache.grammar(GENERIC, default_policy)
    assert cache.grammar(GENERIC, default_policy) is compiled  # compiled once, reused
    assert _accepts(compiled, dump_verdict("unsafe", "O9", "x" * 300))
    assert not _accepts(compiled, dump_verdict("unsafe", "O9", "x" * 301))
    assert not _accepts(compiled, '{"rating": "safe","category":"none","rationale":""}')
    assert not _accepts(
        compiled, json.dumps({"rating": "safe", "category": "O1", "rationale": '"'})
    )


def test_special_tokens_are_never_allowed(engines: dict[str, HFEngine]) -> None:
    engine = engines["llava_onevision"]
    tokenizer = engine.processor.tokenizer
    info = engine.grammars.tokenizer_info
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    assert image_id in info.special_token_ids
    assert tokenizer.eos_token_id in info.stop_token_ids
