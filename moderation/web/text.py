"""Text that may reach Postgres or a log: no NUL, no other control characters, valid UTF-8.

PostgreSQL refuses NUL in text, a lone surrogate cannot be encoded at all, and control
characters forge log lines; so one rule refuses them wherever text comes in (request models,
path and query parameters, form fields). Tab, newline and carriage return stay allowed.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, field_validator

_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def refused_char(value: str) -> str | None:
    """The first refused character of ``value`` as ``U+XXXX`` (None when it has none)."""
    found = _REFUSED.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def refusal(value: str) -> str | None:
    """Why ``value`` is refused as text (None when it is fine)."""
    char = refused_char(value)
    return None if char is None else f"holds a control character ({char})"


def strict_utf8(raw: bytes) -> str:
    """``raw`` decoded as UTF-8; ValueError (a UnicodeDecodeError) when it is not UTF-8."""
    return raw.decode("utf-8")


def _check(value: Any) -> Any:
    if isinstance(value, str):
        if (why := refusal(value)) is not None:
            raise ValueError(why)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _check(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key)
            _check(item)
    return value


class RequestModel(BaseModel):
    """A request body or form: every string in it, at any depth, is refused (422, with the
    field's path) when it holds a control character."""

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        return _check(value)
