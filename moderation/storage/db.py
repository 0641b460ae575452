"""Engine and session scope. Only the scope commits: repositories never do."""

from __future__ import annotations

import select
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def closed_by_server(dbapi_conn: Any) -> bool:
    """Whether the server hung up on this idle pooled connection (a restart, a
    ``pg_terminate_backend``): an idle connection has nothing to read, so a readable socket
    means a termination notice or EOF. No round trip, unlike a ping."""
    pgconn = getattr(dbapi_conn, "pgconn", None)
    if pgconn is None:  # not psycopg 3: nothing to check cheaply
        return False
    if pgconn.status != 0:  # libpq CONNECTION_OK
        return True
    readable, _, _ = select.select([pgconn.socket], [], [], 0)
    return bool(readable)


def _drop_connections_closed_by_server(dbapi_conn: Any, *_: Any) -> None:
    if closed_by_server(dbapi_conn):
        raise DisconnectionError("the database closed this connection")  # pool reconnects


def _pooled_engine(url: str, **options: Any) -> Engine:
    """An engine whose pool replaces, at checkout, connections the server closed while they
    were idle (a database restart), so the first request after a restart succeeds."""
    # hide_parameters: a failed statement's log line never prints its values (key hashes, text)
    engine = create_engine(
        normalize_url(url), pool_size=5, max_overflow=10, hide_parameters=True, **options
    )
    event.listen(engine, "checkout", _drop_connections_closed_by_server)
    return engine


@lru_cache(maxsize=4)
def get_engine(url: str) -> Engine:
    """One pooled engine per URL per process."""
    return _pooled_engine(url)


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
    return _pooled_engine(url, isolation_level="AUTOCOMMIT")


@contextmanager
def statement_scope(url: str) -> Iterator[Session]:
    """A session in autocommit mode: every statement is its own transaction, with no
    BEGIN/COMMIT round trips. For one-shot reads and for writes done in a single statement."""
    with Session(bind=_autocommit_engine(url)) as session:
        yield session


read_scope = statement_scope
"""One-shot reads (an autocommit session)."""


@contextmanager
def held_connection(url: str) -> Iterator[Connection]:
    """A pooled connection of its own, in autocommit, for locks that belong to the database
    session rather than a transaction (advisory locks): the caller releases them before the
    block ends; the server drops them if the process dies."""
    with _autocommit_engine(url).connect() as connection:
        yield connection
