"""Console filter forms: their query parameters as one model each, and parsing their fields
(empty field: no filter)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import parse_qsl, urlencode

from pydantic import ConfigDict, Field, ValidationError, field_validator

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


MAX_PAGE = 10_000
MAX_SKIPPED = 50


class FilterForm(RequestModel):
    """A filter form as typed in: every field a string (blank: no filter), and the page."""

    model_config = ConfigDict(extra="ignore")
    page: int = 1

    @field_validator("page")
    @classmethod
    def _clamp(cls, page: int) -> int:
        """Page numbers out of range show the nearest page (the last one is the page's own
        business: it knows how many there are)."""
        return min(max(page, 1), MAX_PAGE)

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


@dataclass(frozen=True)
class ReviewRun:
    """A reviewer's run through the queue: the queue's filters (as its query string), the
    items skipped in it, and the item just decided (to offer its undo)."""

    search: str = ""
    skipped: tuple[uuid.UUID, ...] = field(default_factory=tuple)
    done: uuid.UUID | None = None

    @classmethod
    def parse(cls, search: str, skip: str = "", done: str = "") -> ReviewRun:
        """From the hidden fields or query; malformed parts are dropped."""
        try:
            form = QueueForm.model_validate(dict(parse_qsl(search)))
        except ValidationError:
            form = QueueForm.model_validate({})
        skipped = tuple(u for u in map(_uuid_or_none, skip.split(",")) if u)[-MAX_SKIPPED:]
        return cls(form.search(), skipped, _uuid_or_none(done))

    @property
    def form(self) -> QueueForm:
        """The queue's filters."""
        return QueueForm.model_validate(dict(parse_qsl(self.search)))

    def skipping(self, submission_id: uuid.UUID) -> ReviewRun:
        """The run with one more item skipped."""
        return ReviewRun(self.search, (*self.skipped, submission_id)[-MAX_SKIPPED:], None)

    def query(self, done: uuid.UUID | None = None) -> str:
        """The query string of an item page of this run."""
        extra = {"skip": ",".join(map(str, self.skipped)), "done": str(done or "")}
        tail = urlencode({k: v for k, v in extra.items() if v})
        return "&".join(part for part in (self.search, tail) if part)


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None
