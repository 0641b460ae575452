"""Backtest runs and their items (results of a draft and its baseline; never decisions)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from moderation.policies.models import BacktestItem, BacktestRun


def add_run(session: Session, **fields: Any) -> BacktestRun:
    """Store a run (columns as in :class:`BacktestRun`)."""
    run = BacktestRun(id=uuid.uuid4(), **fields)
    session.add(run)
    session.flush()
    return run


def add_items(session: Session, run_id: uuid.UUID, items: list[dict[str, Any]]) -> list[int]:
    """Store a run's items in order (keys: image_sha256, label, submission_id, expected_rating,
    expected_category); returns their ids in the same order."""
    if not items:
        return []
    rows = [
        {"run_id": run_id, "position": i, "submission_id": None, **it} for i, it in enumerate(items)
    ]
    stmt = insert(BacktestItem).returning(BacktestItem.id, sort_by_parameter_order=True)
    return list(session.scalars(stmt, rows))


def get_run(session: Session, run_id: uuid.UUID) -> BacktestRun | None:
    """One run by id."""
    return session.get(BacktestRun, run_id)


def open_items(session: Session, item_ids: list[int]) -> list[BacktestItem]:
    """The items among these ids that have no result yet, in run order."""
    stmt = (
        select(BacktestItem)
        .where(BacktestItem.id.in_(item_ids), BacktestItem.done_at.is_(None))
        .order_by(BacktestItem.run_id, BacktestItem.position)
    )
    return list(session.scalars(stmt))


def record_result(
    session: Session,
    item_id: int,
    *,
    draft: dict[str, Any] | None,
    baseline: dict[str, Any] | None,
    error: str | None = None,
) -> None:
    """Store an item's outcome once (a redelivered task does not overwrite it)."""
    session.execute(
        update(BacktestItem)
        .where(BacktestItem.id == item_id, BacktestItem.done_at.is_(None))
        .values(draft=draft, baseline=baseline, error=error, done_at=datetime.now(UTC)),
        execution_options={"synchronize_session": False},
    )


class Progress(NamedTuple):
    """How far a run is: items done (with or without error), failed, and the last finish."""

    done: int
    failed: int
    last_done_at: datetime | None


def progress(session: Session, run_id: uuid.UUID) -> Progress:
    """Done/failed counts of a run in one query."""
    stmt = select(
        func.count(BacktestItem.done_at),
        func.count(BacktestItem.error),
        func.max(BacktestItem.done_at),
    ).where(BacktestItem.run_id == run_id)
    done, failed, last = session.execute(stmt).one()
    return Progress(int(done), int(failed), last)


def items(session: Session, run_id: uuid.UUID) -> list[BacktestItem]:
    """A run's items in order."""
    stmt = select(BacktestItem).where(BacktestItem.run_id == run_id).order_by(BacktestItem.position)
    return list(session.scalars(stmt))


def recent_runs(
    session: Session, slug: str, tenant_id: uuid.UUID | None, limit: int = 20
) -> list[BacktestRun]:
    """The latest runs of ``slug``, newest first; of one owner (a
    tenant, or None: global)."""
    stmt = select(BacktestRun).where(
        BacktestRun.created_by_tenant_id.is_not_distinct_from(tenant_id), BacktestRun.slug == slug
    )
    return list(session.scalars(stmt.order_by(BacktestRun.created_at.desc()).limit(limit)))
