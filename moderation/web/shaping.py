"""Shaping answers: response models read from the attributes of rows and results."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class _Overlay:
    """``obj``'s attributes, with some set or replaced."""

    def __init__(self, obj: object, fields: dict[str, Any]) -> None:
        self._obj, self._fields = obj, fields

    def __getattr__(self, name: str) -> Any:
        return self._fields[name] if name in self._fields else getattr(self._obj, name)


def from_attributes(model: type[M], obj: object, **fields: Any) -> M:
    """``model`` validated from ``obj``'s attributes (``model_validate(from_attributes=True)``),
    with ``fields`` set or overriding them."""
    return model.model_validate(_Overlay(obj, fields), from_attributes=True)
