"""Reviews and reviewers' claims on queue items."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from moderation.storage.base import Base, now_column


class Review(Base):
    """A reviewer's confirm/overturn of a decision; the ground truth of backtests."""

    __tablename__ = "reviews"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), index=True)
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("decisions.id"), index=True)
    reviewer: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    rating: Mapped[str] = mapped_column(String(16))
    category: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = now_column()


class ReviewClaim(Base):
    """A reviewer's lock on a queue item; another reviewer may take it once it expires."""

    __tablename__ = "review_claims"
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    claimed_at: Mapped[datetime] = now_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ReviewerDisplay(Base):
    """How a console user wants images shown (wellness): blur strength, grayscale."""

    __tablename__ = "reviewer_display"
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blur: Mapped[str] = mapped_column(String(8), server_default="strong")
    grayscale: Mapped[bool] = mapped_column(Boolean, server_default="true")
    updated_at: Mapped[datetime] = now_column()
