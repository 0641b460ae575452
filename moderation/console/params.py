"""Console filter forms: their query parameters as one model each, and parsing their fields
(empty field: no filter)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from pydantic import ConfigDict, Field

from moderation.web.text import RequestModel


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


class FilterForm(RequestModel):
    """A filter form as typed in: every field a string (blank: no filter), and the page."""

    model_config = ConfigDict(extra="ignore")
    page: int = Field(1, ge=1, le=10_000)

    def fields(self) -> dict[str, str]:
        """The form's fields as typed, to show them again."""
        return self.model_dump(exclude={"page"})

    def search(self) -> str:
        """The query string of the filled-in fields (for pagination links)."""
        return urlencode({k: v for k, v in self.fields().items() if v})


class QueueForm(FilterForm):
    """The review queue's filters."""

    policy: str = Field("", max_length=63)
    category: str = Field("", max_length=16)
    rating: str = Field("", max_length=16)
    action: str = Field("", max_length=16)
    tenant: str = Field("", max_length=36)
    date_from: str = Field("", max_length=10)
    date_to: str = Field("", max_length=10)
    reason: str = Field("", max_length=16)


class AuditForm(FilterForm):
    """The audit page's filters."""

    submission: str = Field("", max_length=80)
    actor: str = Field("", max_length=200)
    since: str = Field("", max_length=10)
    until: str = Field("", max_length=10)


class AgreementForm(FilterForm):
    """The agreement page's filters (one page: ``page`` is unused)."""

    policy: str = Field("", max_length=63)
    version: str = Field("", max_length=80)
    date_from: str = Field("", max_length=10)
    date_to: str = Field("", max_length=10)
