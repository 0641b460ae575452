"""The frame verdict cache: one row per frame key, written once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.submissions.models import FrameVerdict


def get_many(session: Session, keys: list[str]) -> dict[str, FrameVerdict]:
    """The cached verdicts among ``keys``."""
    if not keys:
        return {}
    stmt = select(FrameVerdict).where(FrameVerdict.key.in_(set(keys)))
    return {row.key: row for row in session.scalars(stmt)}


def add_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Store frame verdicts; a key already stored keeps its first verdict."""
    if rows:
        session.execute(insert(FrameVerdict).on_conflict_do_nothing(), rows)
