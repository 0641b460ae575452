"""Parsing the query parameters of console filter forms (empty field: no filter)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode


def day(value: str, *, end: bool = False) -> datetime | None:
    """The start of a ``YYYY-MM-DD`` day in UTC (of the next day when ``end``: inclusive);
    ValueError for another format."""
    if not value:
        return None
    start = date.fromisoformat(value) + timedelta(days=1 if end else 0)
    return datetime.combine(start, time(), tzinfo=UTC)


def text(value: str) -> str | None:
    """The stripped value, None when blank."""
    return value.strip() or None


def one_of(value: str, allowed: tuple[str, ...], name: str) -> str | None:
    """A blank value or one of ``allowed`` (ValueError otherwise)."""
    if not value:
        return None
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}")
    return value


def tenant(value: str) -> uuid.UUID | None:
    """A tenant id, None when blank (ValueError when not a UUID)."""
    return uuid.UUID(value.strip()) if value.strip() else None


def search_of(form: dict[str, str]) -> str:
    """The query string of the filled-in fields (for pagination links)."""
    return urlencode({k: v for k, v in form.items() if v})
