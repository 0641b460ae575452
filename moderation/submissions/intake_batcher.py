"""Group commit for intake: the uploads that arrive while a commit is in flight share the
next round: their blobs are written and synced, then their rows go in as one statement and
one commit (one round trip, one WAL flush, one relay wake-up for the lot)."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future

from sqlalchemy.exc import DBAPIError

from moderation.storage.blobs import BlobStore
from moderation.storage.db import statement_scope
from moderation.submissions.intake import MAX_REVIVALS, Accepted, ImagePurged, accept_many
from moderation.submissions.types import Incoming

log = logging.getLogger(__name__)
MAX_BATCH = 64

Pending = tuple[Incoming, bytes, "Future[Accepted]"]


class IntakeBatcher:
    """A thread that writes queued submissions in batches: no wait is added, a batch is
    whatever queued up while the previous one was being written (at most ``max_batch``)."""

    def __init__(self, db_url: str, blobs: BlobStore, max_batch: int = MAX_BATCH) -> None:
        self._db_url, self._blobs = db_url, blobs
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def accept(self, item: Incoming, data: bytes) -> Accepted:
        """Store ``item`` and its image's bytes ``data``; raises why it was not (see
        :func:`moderation.submissions.intake.accept_many`), or the blob store's or database's
        error."""
        self._ensure_started()
        done: Future[Accepted] = Future()
        self._queue.put((item, data, done))
        return await asyncio.wrap_future(done)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="intake", daemon=True)
                    thread.start()
                    self._thread = thread

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self.write_batch(batch)
            if stop:
                return

    def write_batch(self, batch: list[Pending]) -> None:
        """One round of the thread: store the blobs, then write the rows of those stored, and
        answer every caller."""
        self._store_and_write(batch, 0)

    def _write_rows(self, batch: list[Pending], revivals: int = 0) -> None:
        try:
            with statement_scope(self._db_url) as session:
                outcomes = accept_many(session, [item for item, _, _ in batch])
        except DBAPIError as exc:
            if len(batch) > 1 and not exc.connection_invalidated and _row_error(exc):
                # one bad row must not fail its neighbours: write them one by one
                for pending in batch:
                    self._write_rows([pending], revivals)
                return
            for _, _, done in batch:
                done.set_exception(exc)
            return
        except Exception as exc:  # never kill the thread: every caller gets an answer
            log.exception("intake batch failed")
            for _, _, done in batch:
                done.set_exception(exc)
            return
        purged = []
        for (item, data, done), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, ImagePurged) and revivals < MAX_REVIVALS:
                purged.append((item._replace(revive=outcome.purged_at), data, done))
            elif isinstance(outcome, Exception):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)
        if purged:  # their blobs were purged after this round stored them: store them again
            self._store_and_write(purged, revivals + 1)

    def _store_and_write(self, batch: list[Pending], revivals: int) -> None:
        stored = []
        errors = self._blobs.put_many([(item.image.sha256, data) for item, data, _ in batch])
        for (item, data, done), error in zip(batch, errors, strict=True):
            if error is not None:  # disk full, volume gone: this upload fails, not the rest
                log.error("cannot store blob %s: %s", item.image.sha256, error)
                done.set_exception(error)
            else:
                stored.append((item, data, done))
        if stored:
            self._write_rows(stored, revivals)


def _row_error(exc: DBAPIError) -> bool:
    """Whether the error comes from the data of some row (SQLSTATE class 22 or 23)."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    return sqlstate[:2] in ("22", "23")
