"""The inference workers' heartbeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from moderation.storage.base import Base, now_column


class InferenceWorker(Base):
    """A worker process that loaded a model: what it runs and when it was last seen."""

    __tablename__ = "inference_workers"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(300))
    model_revision: Mapped[str] = mapped_column(String(100))
    device: Mapped[str] = mapped_column(String(32))
    dtype: Mapped[str] = mapped_column(String(16))
    profile: Mapped[str] = mapped_column(String(32), server_default="generic")
    warmed_up: Mapped[bool] = mapped_column(Boolean)
    batch_size: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = now_column()
    last_seen_at: Mapped[datetime] = now_column()
