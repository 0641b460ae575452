"""The outbox relay: publishes committed enqueue intents to the broker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import text
from sqlalchemy.orm import Session

from moderation.outbox import repository as outbox
from moderation.storage.db import session_scope

log = logging.getLogger(__name__)

Publish = Callable[[str, str, dict[str, Any]], None]
"""``publish(task_name, queue, kwargs)``: sends one task message or raises."""


@runtime_checkable
class BatchingPublish(Protocol):
    """A ``Publish`` that can also hold a round of sends and deliver them together."""

    def __call__(self, task: str, queue: str, kwargs: dict[str, Any]) -> None: ...

    def batch(self) -> AbstractContextManager[object]:
        """Sends inside the context are delivered when it exits (raising if they cannot be)."""
        ...


def _round_of(publish: Publish) -> tuple[AbstractContextManager[object], bool]:
    """The context a round of sends runs in, and whether it buffers them."""
    if isinstance(publish, BatchingPublish):
        return publish.batch(), True
    return nullcontext(), False


def relay_round(
    session: Session, publish: Publish, ids: list[int] | None = None, limit: int = 500
) -> int:
    """Send pending outbox messages (only ``ids`` if given) within the caller's transaction;
    returns how many were sent.

    Messages are claimed and marked sent in one statement, then published, as one batch when
    the publisher offers one (a single round trip to the broker). If the broker refuses, what
    is not known to be sent goes back to pending for the next wake-up or the periodic sweep:
    the rest of the round, or all of a batch (a batch that failed part-way may have delivered
    some: sent again). A crash before commit undoes the marks, and a crash after a publish but
    before the commit sends that message again; the idempotent tasks absorb both.
    """
    claimed = outbox.claim(session, ids, limit)
    if not claimed:
        return 0
    round_, buffered = _round_of(publish)
    sent = 0
    try:
        with round_:
            for message in claimed:
                publish(message.task, message.queue, dict(message.args))
                sent += 1
    except Exception as exc:  # broker down: keep what was not sent pending
        unsent = claimed if buffered else claimed[sent:]
        log.warning("outbox %s not sent (%s); will retry", unsent[0].id, exc)
        outbox.release(session, [m.id for m in unsent])
        return len(claimed) - len(unsent)
    return len(claimed)


def relay_outbox(
    db_url: str, publish: Publish, ids: list[int] | None = None, limit: int = 500
) -> int:
    """:func:`relay_round` in a transaction of its own."""
    with session_scope(db_url) as session:
        # losing a "sent" mark in a crash only means sending again, which tasks absorb: no
        # need to wait for the WAL flush on this commit
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        return relay_round(session, publish, ids, limit)
