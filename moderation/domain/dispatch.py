"""The outbox relay: publishes committed enqueue intents to the broker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from moderation.storage.db import session_scope
from moderation.storage.repositories import outbox

log = logging.getLogger(__name__)

Publish = Callable[[str, str, dict[str, Any]], None]
"""``publish(task_name, queue, kwargs)``: sends one task message or raises."""


def relay_outbox(
    db_url: str, publish: Publish, ids: list[int] | None = None, limit: int = 500
) -> int:
    """Send pending outbox messages (only ``ids`` if given); returns how many were sent.

    A message is marked sent only after the broker took it; a crash in between sends it twice,
    which the idempotent tasks absorb. When the broker is down the rest stay pending for the
    next wake-up or the periodic sweep.
    """
    sent: list[int] = []
    with session_scope(db_url) as session:
        # losing a "sent" mark in a crash only means sending again, which tasks absorb: no
        # need to wait for the WAL flush on this commit
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        for message in outbox.pending(session, ids, limit):
            try:
                publish(message.task, message.queue, dict(message.args))
            except Exception as exc:  # broker down: keep it pending
                log.warning("outbox %s not sent (%s); will retry", message.id, exc)
                outbox.mark_failed_attempt(session, message.id)
                break
            sent.append(message.id)
        outbox.mark_sent(session, sent)
    return len(sent)
