"""Engine and session scope. Only the scope commits: repositories never do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def with_async_commit(url: str) -> str:
    """The same database, on connections whose commits return before the WAL is flushed
    (``synchronous_commit=off``). For writers whose lost commits are redone anyway: the
    worker's claims and decisions (a crash of Postgres within its WAL writer delay returns
    those submissions to the sweeper, which re-runs them). Never for intake."""
    return (
        make_url(normalize_url(url))
        .update_query_dict({"options": "-c synchronous_commit=off"})
        .render_as_string(hide_password=False)
    )


@lru_cache(maxsize=4)
def get_engine(url: str) -> Engine:
    """One pooled engine per URL per process."""
    return create_engine(normalize_url(url), pool_size=5, max_overflow=10)


@lru_cache(maxsize=4)
def _sessionmaker(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any exception."""
    session = _sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@lru_cache(maxsize=4)
def _autocommit_engine(url: str) -> Engine:
    """A second pool whose connections stay in autocommit (no per-checkout switching)."""
    return create_engine(
        normalize_url(url), isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=10
    )


@contextmanager
def statement_scope(url: str) -> Iterator[Session]:
    """A session in autocommit mode: every statement is its own transaction, with no
    BEGIN/COMMIT round trips. For one-shot reads and for writes done in a single statement."""
    with Session(bind=_autocommit_engine(url)) as session:
        yield session


read_scope = statement_scope
"""One-shot reads (an autocommit session)."""
