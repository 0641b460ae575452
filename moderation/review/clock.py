"""Times as reviewers read them: ``14:03:22 UTC`` and ``3 min ago``."""

from __future__ import annotations

from datetime import UTC, datetime


def when(at: datetime) -> str:
    """The time of day in UTC, with the date when it is not today."""
    at = at.astimezone(UTC)
    today = datetime.now(UTC).date()
    return at.strftime("%H:%M:%S UTC" if at.date() == today else "%Y-%m-%d %H:%M UTC")


def age(at: datetime, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: ``just now``, ``5 min``, ``3 h``, ``2 d``."""
    seconds = ((now or datetime.now(UTC)) - at).total_seconds()
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return "just now"
