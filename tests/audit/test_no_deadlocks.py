"""Writers that append to several tenants' audit chains at once never deadlock (issue #25,
finding 2): intake group commits of mixed tenants, a worker failing multi-tenant batches and
sweeps, all at the same time on the real database; every chain still verifies."""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from moderation.accounts import tenant_repository as tenants
from moderation.audit.chain import verify
from moderation.storage.db import session_scope, statement_scope
from moderation.submissions.intake import accept_many
from moderation.submissions.moderation_flow import _fail_all
from moderation.submissions.sweeper import sweep_flow
from moderation.submissions.types import ImageRow, Incoming

ROUNDS = 20
BATCH = 8


def _tenants(db: str, n: int) -> list[uuid.UUID]:
    with session_scope(db) as session:
        return [tenants.create(session, f"chain-{uuid.uuid4().hex[:8]}").id for _ in range(n)]


def _incoming(tenant_id: uuid.UUID) -> Incoming:
    sha = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    return Incoming(tenant_id, ImageRow(sha, 100, 8, 8, "PNG"), "default", None)


def _deadlocked(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == "40P01"


def test_multi_tenant_writers_never_deadlock(db: str) -> None:
    owners = _tenants(db, 4)
    deadlocks: list[str] = []
    errors: list[BaseException] = []

    def run(name: str, step: Callable[[random.Random], None]) -> None:
        rng = random.Random(name)
        for _ in range(ROUNDS):
            try:
                step(rng)
            except Exception as exc:
                (deadlocks if _deadlocked(exc) else errors).append(exc)  # type: ignore[arg-type]

    def intake(rng: random.Random) -> None:
        with statement_scope(db) as session:  # one statement: the API's group commit
            accept_many(session, [_incoming(rng.choice(owners)) for _ in range(BATCH)])

    def worker(rng: random.Random) -> None:
        with session_scope(db) as session:
            found = session.execute(
                text(
                    "SELECT id FROM submissions WHERE tenant_id = ANY(:t) AND status = 'queued' "
                    "ORDER BY random() LIMIT 8"
                ),
                {"t": owners},
            ).scalars()
            _fail_all(session, [(sid, "test") for sid in found], "model")

    def sweeper(rng: random.Random) -> None:
        sweep_flow(db, lambda *_: None, stuck_after_s=0, max_attempts=3)

    threads = [threading.Thread(target=run, args=(f"intake-{i}", intake)) for i in range(4)]
    threads += [threading.Thread(target=run, args=(f"worker-{i}", worker)) for i in range(2)]
    threads.append(threading.Thread(target=run, args=("sweeper", sweeper)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[:3]
    assert not deadlocks, f"{len(deadlocks)} deadlocks: {deadlocks[0]}"
    with session_scope(db) as session:
        session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        for owner in owners:
            result = verify(session, str(owner))
            assert result.broken is None and result.rows > 0, result
