"""The outbox relay thread: sends committed enqueue intents as soon as they commit.

Intake writes an outbox row and a NOTIFY in its transaction; this thread LISTENs, and on each
wake-up (or every ``poll_s`` as a fallback) publishes everything pending in one transaction
on a connection it keeps (as one broker pipeline, see :func:`relay_round`). Several API
processes may each run one: rows are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from moderation.outbox.relay import Publish, relay_round
from moderation.outbox.repository import CHANNEL
from moderation.storage.db import get_engine, normalize_url

log = logging.getLogger(__name__)
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
