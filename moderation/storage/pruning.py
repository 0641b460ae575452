"""Deleting old rows in bounded batches, without reading the whole table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, any_, delete, func, literal_column, select
from sqlalchemy.orm import InstrumentedAttribute, Session

# a row's physical address: deleting the rows an index found by it is a TID scan, where
# ``id IN (subquery)`` lets the planner hash-join the subquery against the whole table
_CTID: ColumnElement[Any] = literal_column("ctid")


def delete_first(
    session: Session,
    model: Any,
    *,
    where: ColumnElement[bool],
    order_by: ColumnElement[Any] | InstrumentedAttribute[Any],
    limit: int,
) -> int:
    """Delete the first ``limit`` rows of ``model`` matching ``where`` in ``order_by`` order
    (give ``where`` and ``order_by`` an index); returns how many."""
    first = select(_CTID).select_from(model).where(where).order_by(order_by).limit(limit)
    stmt = delete(model).where(any_(func.array(first.scalar_subquery())) == _CTID)
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def delete_older_than(
    session: Session, stamp: InstrumentedAttribute[Any], older_than_s: int, limit: int
) -> int:
    """Delete up to ``limit`` rows whose ``stamp`` column is more than ``older_than_s`` old by
    the database's clock, oldest first (give ``stamp`` an index); returns how many."""
    cutoff = func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_s)
    return delete_first(session, stamp.class_, where=stamp < cutoff, order_by=stamp, limit=limit)
