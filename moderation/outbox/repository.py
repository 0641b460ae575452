"""The transactional outbox: messages written with the data, sent after commit."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ARRAY,
    CTE,
    BigInteger,
    ScalarSelect,
    String,
    Table,
    Update,
    any_,
    bindparam,
    func,
    insert,
    literal,
    null,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from moderation.outbox.models import OutboxMessage
from moderation.storage.pruning import delete_older_than

CHANNEL = "moderation_outbox"
_TABLE = cast(Table, OutboxMessage.__table__)


class Message(NamedTuple):
    """One pending message."""

    id: int
    task: str
    queue: str
    args: dict[str, Any]
    headers: dict[str, Any] | None = None  # request_id, traceparent: sent as message headers


def add(
    session: Session,
    task: str,
    queue: str,
    kwargs: dict[str, Any],
    headers: dict[str, Any] | None = None,
) -> int:
    """Record the intent to send a task (with ``headers``), in the caller's transaction, and
    wake the relay at commit (a NOTIFY is delivered only if the transaction commits); returns
    the message id."""
    stmt = insert(_TABLE).values(
        task=task, queue=queue, args=kwargs, attempts=0, headers=headers or None
    )
    message_id = int(session.execute(stmt.returning(_TABLE.c.id)).scalar_one())
    session.execute(text(f"NOTIFY {CHANNEL}"))
    return message_id


def per_row(
    task: str, queue: str, arg: str, ids: CTE, headers: ColumnElement[Any] | None = None
) -> CTE:
    """An INSERT (as a CTE of the new message ids): one message ``task(arg=<id>)`` per row of
    ``ids`` (a CTE with an ``id`` column), with ``headers`` (a JSONB column of ``ids``'s
    query, or none). The caller's statement must also NOTIFY :data:`CHANNEL` when any was
    written (see :func:`notify_if_any`)."""
    rows = select(
        literal(task),
        literal(queue),
        func.jsonb_build_object(arg, ids.c.id.cast(String)),
        literal(0),
        headers if headers is not None else null(),
    )
    stmt = (
        insert(_TABLE)
        .from_select(["task", "queue", "args", "attempts", "headers"], rows)
        .returning(_TABLE.c.id)
    )
    return stmt.cte(f"{task.replace('.', '_')}_messages")


def notify_if_any(messages: CTE) -> ScalarSelect[Any]:
    """A scalar subquery that wakes the relay (at commit) when ``messages`` holds any row."""
    return (
        select(func.count(func.pg_notify(CHANNEL, "")))
        .select_from(select(messages.c.id).limit(1).subquery())
        .scalar_subquery()
    )


def add_per_row(session: Session, task: str, queue: str, arg: str, ids: CTE) -> int:
    """:func:`per_row` as a statement of its own, with its NOTIFY; returns how many."""
    added = len(session.execute(select(per_row(task, queue, arg, ids).c.id)).all())
    if added:
        session.execute(text(f"NOTIFY {CHANNEL}"))
    return added


@lru_cache(maxsize=2)
def _claim_statement(only_ids: bool) -> Update:
    """The claim statement, built once (it runs on every relay round): parameters ``limit``
    and, with ``only_ids``, ``ids``."""
    c = _TABLE.c
    chosen = select(c.id).where(c.sent_at.is_(None))
    if only_ids:
        chosen = chosen.where(c.id == any_(bindparam("ids", type_=ARRAY(BigInteger()))))
    chosen = chosen.order_by(c.id).limit(bindparam("limit")).with_for_update(skip_locked=True)
    return (
        update(_TABLE)
        .where(c.id.in_(chosen.scalar_subquery()))
        .values(sent_at=func.now(), attempts=c.attempts + 1)
        .returning(c.id, c.task, c.queue, c.args, c.headers)
    )


def claim(session: Session, ids: list[int] | None = None, limit: int = 500) -> list[Message]:
    """Take unsent messages (only these ids, if given), oldest first, and mark them sent with
    their attempt counted: one statement. Row locks (SKIP LOCKED) keep concurrent relays
    apart until the caller's transaction ends; :func:`release` undoes the mark for messages
    that could not be sent."""
    params: dict[str, Any] = {"limit": limit}
    if ids is not None:
        params["ids"] = ids
    rows = session.connection().execute(_claim_statement(ids is not None), params)
    return sorted(Message(*row) for row in rows)


def release(session: Session, ids: list[int]) -> None:
    """Put claimed messages back to pending (their failed attempt stays counted)."""
    if ids:
        session.execute(update(_TABLE).where(_TABLE.c.id.in_(ids)).values(sent_at=None))


def pending_count(session: Session) -> int:
    """Messages not yet sent (by the pending index)."""
    stmt = select(func.count()).select_from(_TABLE).where(_TABLE.c.sent_at.is_(None))
    return int(session.execute(stmt).scalar_one())


def prune_sent(session: Session, older_than_s: int, limit: int = 10_000) -> int:
    """Delete up to ``limit`` messages sent more than ``older_than_s`` ago, oldest first (by
    the sent_at index); returns how many."""
    return delete_older_than(session, OutboxMessage.sent_at, older_than_s, limit)
