"""The outbox relay: publishes committed enqueue intents to the broker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from moderation.storage.db import session_scope
from moderation.storage.repositories import outbox

log = logging.getLogger(__name__)

Publish = Callable[[str, str, dict[str, Any]], None]
"""``publish(task_name, queue, kwargs)``: sends one task message or raises."""


def relay_round(
    session: Session, publish: Publish, ids: list[int] | None = None, limit: int = 500
) -> int:
    """Send pending outbox messages (only ``ids`` if given) within the caller's transaction;
    returns how many were sent.

    Messages are claimed and marked sent in one statement, then published; if the broker
    refuses one, it and the rest go back to pending for the next wake-up or the periodic
    sweep. A crash before commit undoes the marks, and a crash after a publish but before the
    commit sends that message again, which the idempotent tasks absorb.
    """
    claimed = outbox.claim(session, ids, limit)
    for i, message in enumerate(claimed):
        try:
            publish(message.task, message.queue, dict(message.args))
        except Exception as exc:  # broker down: keep it and the rest pending
            log.warning("outbox %s not sent (%s); will retry", message.id, exc)
            outbox.release(session, [m.id for m in claimed[i:]])
            return i
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
