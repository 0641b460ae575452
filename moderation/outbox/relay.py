"""The outbox relay: sends committed enqueue intents to the broker.

One round (:func:`relay_round`) claims pending outbox rows and publishes them in one
transaction. The relay thread (:class:`OutboxRelay`) runs rounds as soon as intents commit:
intake writes an outbox row and a NOTIFY in its transaction; the thread LISTENs, and on each
wake-up (or every ``poll_s`` as a fallback) runs a round on a connection it keeps. It runs in
each API process (unless ``MODERATION_RELAY_IN_API=false``) or alone as ``moderation relay``
(the relay process). Several may run at once: rows are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, runtime_checkable

import psycopg
from opentelemetry.trace import SpanKind
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from moderation.observability import metrics
from moderation.observability.tracing import carrier, span
from moderation.outbox import repository as outbox
from moderation.outbox.repository import CHANNEL
from moderation.storage.db import get_engine, normalize_url, session_scope

log = logging.getLogger(__name__)


class Publish(Protocol):
    """``publish(task_name, queue, kwargs, headers)``: sends one task message (with these
    message headers) or raises."""

    def __call__(
        self, task: str, queue: str, kwargs: dict[str, Any], headers: dict[str, Any] | None = None
    ) -> None: ...


@runtime_checkable
class BatchingPublish(Protocol):
    """A ``Publish`` that can also hold a round of sends and deliver them together."""

    def __call__(
        self, task: str, queue: str, kwargs: dict[str, Any], headers: dict[str, Any] | None = None
    ) -> None: ...

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
                _publish_one(publish, message)
                sent += 1
    except Exception as exc:  # broker down: keep what was not sent pending
        unsent = claimed if buffered else claimed[sent:]
        log.warning("outbox %s not sent (%s); will retry", unsent[0].id, exc)
        outbox.release(session, [m.id for m in unsent])
        metrics.OUTBOX_SENT.inc(len(claimed) - len(unsent))
        return len(claimed) - len(unsent)
    metrics.OUTBOX_SENT.inc(len(claimed))
    return len(claimed)


def _publish_one(publish: Publish, message: outbox.Message) -> None:
    """Send one message; with its upload's headers, in a span of the upload's trace (whose
    context the message then carries on to the worker)."""
    if not message.headers:
        publish(message.task, message.queue, dict(message.args))
        return
    with span("outbox.relay", parent=message.headers, kind=SpanKind.PRODUCER, task=message.task):
        # the relay's own span is the worker's parent when it traces; else the upload's
        publish(message.task, message.queue, dict(message.args), {**message.headers, **carrier()})


def relay_outbox(
    db_url: str, publish: Publish, ids: list[int] | None = None, limit: int = 500
) -> int:
    """:func:`relay_round` in a transaction of its own."""
    with session_scope(db_url) as session:
        # losing a "sent" mark in a crash only means sending again, which tasks absorb: no
        # need to wait for the WAL flush on this commit
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        return relay_round(session, publish, ids, limit)


_ROUND = 500


def libpq_url(db_url: str) -> str:
    """The SQLAlchemy URL as a plain libpq connection URI."""
    url = make_url(normalize_url(db_url)).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class OutboxRelay:
    """A daemon thread that relays the outbox on NOTIFY."""

    def __init__(
        self, db_url: str, publish: Publish, poll_s: float = 2.0, gather_s: float = 0.01
    ) -> None:
        self.db_url, self.publish, self.poll_s, self.gather_s = db_url, publish, poll_s, gather_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    def start(self) -> None:
        """Start relaying."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current round."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception as exc:  # database restarting: retry, the sweeper covers the gap
                log.warning("outbox relay: %s; reconnecting", exc)
                self._stop.wait(self.poll_s)

    def _listen(self) -> None:
        conn = get_engine(self.db_url).connect()
        try:
            with (
                psycopg.connect(libpq_url(self.db_url), autocommit=True) as listener,
                Session(bind=conn) as session,
            ):
                listener.execute(f"LISTEN {CHANNEL}")
                # a lost "sent" mark only means sending again, which tasks absorb: the relay's
                # commits need not wait for the WAL flush
                session.execute(text("SET synchronous_commit TO OFF"))
                session.commit()
                while not self._stop.is_set():
                    self._drain(session)
                    # wake on the first NOTIFY (or after poll_s)
                    for _ in listener.notifies(timeout=self.poll_s, stop_after=1):
                        # let the commits of the next few milliseconds join this round: one
                        # claim and one commit for many messages (short next to the worker's
                        # batching wait)
                        self._stop.wait(self.gather_s)
                    for _ in listener.notifies(timeout=0):  # this round sends theirs too
                        pass
        finally:
            conn.invalidate()  # it carries the session setting: never back into the pool
            conn.close()

    def _drain(self, session: Session) -> None:
        while not self._stop.is_set():
            with session.begin():
                sent = relay_round(session, self.publish, limit=_ROUND)
            if sent < _ROUND:
                return
