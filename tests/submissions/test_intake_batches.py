"""Group commit: one round of the intake thread writes many uploads in one statement and
answers each on its own (real database and blob store)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy.exc import DBAPIError

from moderation.accounts import api_key_repository as api_keys
from moderation.admin import create_key, create_tenant_key
from moderation.audit import chain as audit_chain
from moderation.policies.catalog import UnknownPolicy
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import session_scope
from moderation.submissions.images import inspect_image
from moderation.submissions.intake import (
    Accepted,
    IdempotencyKeyReused,
    KeyRevoked,
    Replayed,
    image_row,
)
from moderation.submissions.intake_batcher import IntakeBatcher, Pending
from moderation.submissions.types import IdempotencyClaim, Incoming, Received
from tests.support import images
from tests.support.db import count, rows

_KEYS = (
    "SELECT k.id, k.name, k.tenant_id FROM api_keys k JOIN tenants t ON t.id = k.tenant_id "
    "WHERE t.name = :n"
)


class Tenant:
    """A new tenant with a live key and a revoked one."""

    def __init__(self, db: str) -> None:
        name = f"batches-{uuid.uuid4().hex[:8]}"
        create_tenant_key(db, name)
        create_key(db, name, ["moderations:write"], "revoked")
        keys = {r["name"]: r for r in rows(db, _KEYS, n=name)}
        revoked = keys.pop("revoked")
        (live,) = keys.values()
        ids = (revoked["tenant_id"], live["id"], revoked["id"])
        assert all(isinstance(i, uuid.UUID) for i in ids)
        self.id, self.live_key, self.revoked_key = cast(tuple[uuid.UUID, ...], ids)
        with session_scope(db) as session:
            api_keys.revoke(session, self.revoked_key)

    def upload(
        self,
        seed: int,
        *,
        policy: str = "default",
        external_id: str | None = None,
        key: uuid.UUID | None = None,
        claim: IdempotencyClaim | None = None,
    ) -> Pending:
        data = images.png(21, 17, seed=seed)
        info = inspect_image(data, max_bytes=10**6, max_pixels=10**6)
        item = Incoming(self.id, image_row(info), policy, external_id, key or self.live_key, claim)
        return item, data, Future()


@pytest.fixture
def tenant(db: str) -> Tenant:
    return Tenant(db)


def _outcome(done: Future[Accepted]) -> Accepted | BaseException:
    exc = done.exception(timeout=0)
    return exc if exc is not None else done.result(timeout=0)


def test_one_round_answers_every_upload_and_writes_only_the_admitted(
    db: str, tmp_path: Path, tenant: Tenant
) -> None:
    first, other = IdempotencyClaim("k-1", "a" * 64), IdempotencyClaim("k-1", "b" * 64)
    batch = [
        tenant.upload(1, external_id="plain"),
        tenant.upload(1, external_id="same image again"),
        tenant.upload(2, policy="no-such-policy"),
        tenant.upload(3, key=tenant.revoked_key),
        tenant.upload(4, claim=first),
        tenant.upload(4, claim=first),  # a retry in the same round
        tenant.upload(5, claim=other),  # the key, with another request
    ]
    IntakeBatcher(db, FileBlobStore(tmp_path)).write_batch(batch)

    got = [_outcome(done) for _, _, done in batch]
    plain, again, unknown, revoked, claimed, retried, reused = got
    assert isinstance(plain, Received) and isinstance(again, Received) and plain.id != again.id
    assert isinstance(unknown, UnknownPolicy)
    assert isinstance(revoked, KeyRevoked)
    assert isinstance(claimed, Received)
    assert retried == Replayed(claimed.id)
    assert isinstance(reused, IdempotencyKeyReused)

    written = {str(s.id) for s in (plain, again, claimed)}
    stored = rows(db, "SELECT id::text AS id FROM submissions WHERE tenant_id = :t", t=tenant.id)
    assert {r["id"] for r in stored} == written
    queued = rows(db, "SELECT args->>'submission_id' AS id FROM outbox")
    assert written <= {r["id"] for r in queued}
    events = "audit_events WHERE event = 'submission.received' AND subject_id = ANY(:ids)"
    assert count(db, events, ids=list(written)) == 3
    for item, data, _ in batch:  # blobs are stored before rows are written
        assert FileBlobStore(tmp_path).get(item.image.sha256) == data
    with session_scope(db) as session:
        assert audit_chain.verify(session, str(tenant.id)).broken is None


def test_a_row_the_database_refuses_does_not_fail_its_neighbours(
    db: str, tmp_path: Path, tenant: Tenant
) -> None:
    batch = [
        tenant.upload(11),
        tenant.upload(12, external_id="x" * 500),  # over the column's 200 (the API checks it)
        tenant.upload(13),
    ]
    IntakeBatcher(db, FileBlobStore(tmp_path)).write_batch(batch)
    good, bad, also_good = (_outcome(done) for _, _, done in batch)
    assert isinstance(good, Received) and isinstance(also_good, Received)
    assert isinstance(bad, DBAPIError)
    assert count(db, "submissions WHERE tenant_id = :t", t=tenant.id) == 2


def test_a_blob_that_cannot_be_stored_fails_its_upload_and_writes_no_row(
    db: str, tmp_path: Path, tenant: Tenant
) -> None:
    not_a_dir = tmp_path / "blobs"
    not_a_dir.write_text("a file where the blob directory should be")
    batch = [tenant.upload(21), tenant.upload(22)]
    IntakeBatcher(db, FileBlobStore(not_a_dir)).write_batch(batch)
    assert all(isinstance(_outcome(done), OSError) for _, _, done in batch)
    assert count(db, "submissions WHERE tenant_id = :t", t=tenant.id) == 0


def test_the_thread_answers_concurrent_callers(db: str, tmp_path: Path, tenant: Tenant) -> None:
    intake = IntakeBatcher(db, FileBlobStore(tmp_path))
    uploads = [tenant.upload(30 + i) for i in range(12)]

    async def upload_all() -> list[Accepted]:
        return await asyncio.gather(*(intake.accept(item, data) for item, data, _ in uploads))

    try:
        got = asyncio.run(upload_all())
    finally:
        intake.close()
    received = [g for g in got if isinstance(g, Received)]
    assert len({g.id for g in received}) == len(uploads)
    assert count(db, "submissions WHERE tenant_id = :t", t=tenant.id) == 12
