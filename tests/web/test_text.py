"""The one rule for text that reaches Postgres or a log, and the JSON depth scan."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from moderation.web.hygiene import json_depth
from moderation.web.text import RequestModel, refused_char


@pytest.mark.parametrize(
    ("value", "char"),
    [("a\x00b", "U+0000"), ("\x1b[2J", "U+001B"), ("\x7f", "U+007F"), ("\x85", "U+0085"),
     ("\ud800", "U+D800"), ("tab\tnewline\ncr\r", None), ("Grüße, 世界", None)],
)  # fmt: skip
def test_refused_characters(value: str, char: str | None) -> None:
    assert refused_char(value) == char


class _Body(RequestModel):
    name: str
    tags: list[str] = []
    meta: dict[str, str] = {}


def test_a_request_model_names_the_field_at_any_depth() -> None:
    assert _Body(name="ok", tags=["a"], meta={"k": "v"}).name == "ok"
    for bad, loc in (
        ({"name": "a\x00"}, ("name",)),
        ({"name": "a", "tags": ["x", "y\x01"]}, ("tags",)),
        ({"name": "a", "meta": {"k\x00": "v"}}, ("meta",)),
    ):
        with pytest.raises(ValidationError) as refused:
            _Body.model_validate(bad)
        assert refused.value.errors()[0]["loc"] == loc
        assert "control character" in refused.value.errors()[0]["msg"]


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": [[]]}]}', 5),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets inside strings do not count
        (b'{"a": "\\"[[["}', 1),  # nor after an escaped quote
        (b'"plain"', 0),
        (b"[" * 1000 + b"]" * 1000, 1000),
    ],
)
def test_json_depth(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth
    if depth < 100:
        json.loads(body)  # the cases are real JSON
