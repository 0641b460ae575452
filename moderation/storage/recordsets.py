"""Many rows as ONE statement parameter: ``jsonb_to_recordset`` over a JSON array."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnClause, Table, TableValuedAlias, Text, bindparam, column, func
from sqlalchemy.dialects.postgresql import JSONB


def recordset(name: str, param: str, columns: Sequence[ColumnClause[Any]]) -> TableValuedAlias:
    """``jsonb_to_recordset(:param) AS name(col type, …)``: bind ``param`` to a JSON array of
    objects with these keys."""
    fn = func.jsonb_to_recordset(func.cast(bindparam(param, type_=Text()), JSONB))
    return fn.table_valued(*columns).render_derived(name, with_types=True)


def table_recordset(name: str, param: str, table: Table, columns: list[str]) -> TableValuedAlias:
    """:func:`recordset` typed like these columns of ``table``."""
    return recordset(name, param, [column(c, table.c[c].type) for c in columns])
