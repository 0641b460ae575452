"""Direct reads of the test database, to compare API answers with what is stored."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from moderation.storage.db import normalize_url


def rows(db_url: str, sql: str, **params: object) -> list[dict[str, object]]:
    """Run a query and return plain dicts."""
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def execute(db_url: str, sql: str, **params: object) -> None:
    """Run a statement and commit it (``rows`` reads: what it writes is rolled back)."""
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


def count(db_url: str, table: str, **params: object) -> int:
    """Rows in a table (``table`` may carry a WHERE clause with ``:name`` parameters)."""
    found = rows(db_url, f"SELECT count(*) AS n FROM {table}", **params)
    return int(found[0]["n"])  # type: ignore[call-overload]
