"""The relay's rounds: one batch per round when the publisher offers it, nothing lost when
the broker refuses (against the real database)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from moderation.outbox.relay import BatchingPublish, relay_outbox
from tests.conftest import Env
from tests.support.db import rows
from tests.support.intake import accept_many

Sent = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def db(make_db: Callable[[], str]) -> str:
    """A database of this module's own: the suite's API relay must not send these messages."""
    return make_db()


class Batching:
    """A batching publisher: sends inside ``batch()`` are held, delivered when it ends (or
    lost with an error, like a broker connection that drops at the flush)."""

    def __init__(self, fail_flush: bool = False) -> None:
        self.fail_flush = fail_flush
        self.sent: list[Sent] = []
        self.flushes = 0
        self._held: list[Sent] | None = None

    def __call__(
        self, task: str, queue: str, kwargs: dict[str, Any], headers: object = None
    ) -> None:
        if self._held is None:
            self.sent.append((task, queue, kwargs))
        else:
            self._held.append((task, queue, kwargs))

    @contextmanager
    def batch(self) -> Iterator[None]:
        self._held = []
        try:
            yield
            self.flushes += 1
            if self.fail_flush:
                raise ConnectionError("broker went away during the flush")
            self.sent += self._held
        finally:
            self._held = None


class FailsAt:
    """A publisher without batches whose ``n``-th send fails."""

    def __init__(self, n: int) -> None:
        self.n, self.sent = n, 0

    def __call__(
        self, task: str, queue: str, kwargs: dict[str, Any], headers: object = None
    ) -> None:
        if self.sent + 1 == self.n:
            raise ConnectionError("broker down")
        self.sent += 1


def _pending(db: str, ids: list[int]) -> list[int]:
    found = rows(db, "SELECT id FROM outbox WHERE id = ANY(:ids) AND sent_at IS NULL", ids=ids)
    return sorted(int(r["id"]) for r in found)


def _submitted(env: Env, db: str, seeds: list[int]) -> tuple[list[str], list[int]]:
    made = accept_many(db, env.data_dir / "blobs", seeds, "dispatch", "default", (31, 29))
    return [sid for sid, _ in made], [oid for _, oid in made]


def test_a_round_goes_out_as_one_batch(env: Env, db: str) -> None:
    sids, ids = _submitted(env, db, [4001, 4002, 4003])
    publish = Batching()
    assert isinstance(publish, BatchingPublish)
    assert relay_outbox(db, publish, ids) == 3
    assert publish.flushes == 1
    assert sorted(kw["submission_id"] for _, _, kw in publish.sent) == sorted(sids)
    assert _pending(db, ids) == []


def test_a_batch_that_fails_at_the_flush_goes_back_whole(env: Env, db: str) -> None:
    _, ids = _submitted(env, db, [4011, 4012, 4013])
    assert relay_outbox(db, Batching(fail_flush=True), ids) == 0
    assert _pending(db, ids) == sorted(ids)  # none is known to be sent: all kept
    again = Batching()
    assert relay_outbox(db, again, ids) == 3 and len(again.sent) == 3


def test_without_batches_only_the_unsent_rest_goes_back(env: Env, db: str) -> None:
    _, ids = _submitted(env, db, [4021, 4022, 4023])
    assert relay_outbox(db, FailsAt(2), ids) == 1
    assert len(_pending(db, ids)) == 2


def test_a_message_goes_out_with_the_headers_its_row_keeps(db: str) -> None:
    """The upload's request id (and trace context, with tracing on) travel as message
    headers; a row without headers sends none."""
    from moderation.outbox import repository as outbox
    from moderation.storage.db import session_scope

    with session_scope(db) as session:
        carried = outbox.add(session, "t.x", "q", {"a": 1}, {"request_id": "req-9"})
        bare = outbox.add(session, "t.x", "q", {"a": 2})
    got: dict[int, object] = {}

    def publish(task: str, queue: str, kwargs: dict[str, Any], headers: object = None) -> None:
        got[kwargs["a"]] = headers

    assert relay_outbox(db, publish, [carried, bare]) == 2
    assert got == {1: {"request_id": "req-9"}, 2: None}
