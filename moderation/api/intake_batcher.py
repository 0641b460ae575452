"""Group commit for intake: the uploads that arrive while a commit is in flight share the
next round: their blobs are written and synced, then their rows go in as one statement and
one commit (one round trip, one WAL flush, one relay wake-up for the lot).

The rounds run as a task on the API's event loop and talk to Postgres through an async
driver: no thread waits for the GIL between a query and its answer (a writer thread beside
a busy event loop spent about 3 ms a round on such hand-offs, measured)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from moderation.domain.intake import Accepted, accept_many
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import async_autocommit_engine
from moderation.storage.repositories.submissions import Incoming

log = logging.getLogger(__name__)
MAX_BATCH = 64

Pending = tuple[Incoming, bytes, "asyncio.Future[Accepted]"]


class IntakeBatcher:
    """Writes queued submissions in rounds: no wait is added, a round is whatever queued up
    while the previous one was being written (at most ``max_batch``)."""

    def __init__(self, db_url: str, blobs: FileBlobStore, max_batch: int = MAX_BATCH) -> None:
        self._db_url, self._blobs = db_url, blobs
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Pending | None] = asyncio.Queue()  # remade per event loop
        self._task: asyncio.Task[None] | None = None
        self._engine: AsyncEngine | None = None

    async def accept(self, item: Incoming, data: bytes) -> Accepted:
        """Store ``item`` and its image's bytes ``data``; raises why it was not (see
        :func:`moderation.domain.intake.accept_many`), or the blob store's or database's
        error."""
        if self._task is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run(), name="intake")
        done: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, data, done))
        return await done

    async def aclose(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _run(self) -> None:
        while (first := await self._queue.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < self._max_batch and not self._queue.empty():
                more = self._queue.get_nowait()
                if more is None:
                    stop = True
                    break
                batch.append(more)
            await self.write_batch(batch)
            if stop:
                return

    async def write_batch(self, batch: list[Pending]) -> None:
        """One round: store the blobs, then write the rows of those stored, and answer every
        caller."""
        errors = await asyncio.to_thread(self._store_blobs, batch)
        stored = []
        for pending, error in zip(batch, errors, strict=True):
            if error is None:
                stored.append(pending)
            else:  # disk full, volume gone: this upload fails, not the rest
                log.error("cannot store blob %s: %s", pending[0].image.sha256, error)
                _answer(pending[2], error)
        if stored:
            await self._write_rows(stored)

    def _store_blobs(self, batch: Sequence[Pending]) -> list[OSError | None]:
        errors: list[OSError | None] = []
        for item, data, _ in batch:
            try:
                self._blobs.put(item.image.sha256, data)
            except OSError as exc:
                errors.append(exc)
            else:
                errors.append(None)
        return errors

    async def _write_rows(self, batch: list[Pending]) -> None:
        items = [item for item, _, _ in batch]
        try:
            async with AsyncSession(self._bind()) as session:
                outcomes = await session.run_sync(accept_many, items)
        except DBAPIError as exc:
            if len(batch) > 1 and not exc.connection_invalidated and _row_error(exc):
                # one bad row must not fail its neighbours: write them one by one
                for pending in batch:
                    await self._write_rows([pending])
                return
            for _, _, done in batch:
                _answer(done, exc)
            return
        except Exception as exc:  # never end the task: every caller gets an answer
            log.exception("intake batch failed")
            for _, _, done in batch:
                _answer(done, exc)
            return
        for (_, _, done), outcome in zip(batch, outcomes, strict=True):
            _answer(done, outcome)

    def _bind(self) -> AsyncEngine:
        # made on the loop that uses it: async connections belong to one event loop
        if self._engine is None:
            self._engine = async_autocommit_engine(self._db_url)
        return self._engine


def _answer(done: asyncio.Future[Accepted], outcome: Accepted | Exception) -> None:
    if done.done():  # the caller went away
        return
    if isinstance(outcome, Exception):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


def _row_error(exc: DBAPIError) -> bool:
    """Whether the error comes from the data of some row (SQLSTATE class 22 or 23)."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or ""
    return sqlstate[:2] in ("22", "23")
