"""The inference workers' registry: what each loaded, when it was last seen."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from moderation.health.models import InferenceWorker


def register(session: Session, name: str, **fields: object) -> None:
    """Insert or refresh a worker's row after it loaded its model."""
    now = func.now()  # the database's clock: the API compares it with its own now()
    values = {**fields, "started_at": now, "last_seen_at": now}
    stmt = insert(InferenceWorker).values(name=name, **values)
    session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_=values))


def touch(session: Session, name: str) -> None:
    """Record that the worker is alive."""
    session.execute(
        update(InferenceWorker).where(InferenceWorker.name == name).values(last_seen_at=func.now())
    )


def seen_since(session: Session, seconds: int) -> list[InferenceWorker]:
    """Workers seen in the last ``seconds``, most recent first."""
    since = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds)
    stmt = (
        select(InferenceWorker)
        .where(InferenceWorker.last_seen_at >= since)
        .order_by(InferenceWorker.last_seen_at.desc())
    )
    return list(session.scalars(stmt))
