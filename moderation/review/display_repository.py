"""Reviewers' display settings (SQL)."""

from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.review.models import ReviewerDisplay


def get(session: Session, user_id: uuid.UUID) -> ReviewerDisplay | None:
    """The user's settings, None while they kept the defaults."""
    return session.get(ReviewerDisplay, user_id)


def put(session: Session, user_id: uuid.UUID, blur: str, grayscale: bool) -> None:
    """Store the user's settings (insert or replace)."""
    stmt = insert(ReviewerDisplay).values(user_id=user_id, blur=blur, grayscale=grayscale)
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ReviewerDisplay.user_id],
            set_={"blur": blur, "grayscale": grayscale, "updated_at": func.now()},
        )
    )
