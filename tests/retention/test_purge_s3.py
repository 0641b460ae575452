"""Retention on the S3 store (a real SeaweedFS): a purge round deletes the objects of expired
submissions and keeps the others; an erasure deletes its object now; a re-upload of purged
bytes stores the object again."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from moderation.accounts import tenant_repository as tenants
from moderation.config import Settings
from moderation.retention.purge import purge_round
from moderation.retention.requests import Requester, erase_image
from moderation.storage.blobs import BlobStore, blob_store
from moderation.storage.db import session_scope
from moderation.submissions.images import inspect_image
from moderation.submissions.intake import accept_submission
from tests.retention.support import decide, purged_at, sha_of
from tests.support import images
from tests.support.seaweedfs import SeaweedS3


def _s3(server: SeaweedS3) -> BlobStore:
    bucket = f"purge-{uuid.uuid4().hex[:10]}"
    server.create_bucket(bucket)
    env = server.settings_env(bucket, prefix="blobs/")
    return blob_store(
        Settings(**{k.removeprefix("MODERATION_").lower(): v for k, v in env.items()})
    )  # type: ignore[arg-type]


def _upload(db: str, store: BlobStore, seed: int) -> uuid.UUID:
    data = images.png(33, 27, seed=seed)
    with session_scope(db) as session:
        owner = tenants.get_by_name(session, "s3-keeper") or tenants.create(session, "s3-keeper")
        accepted = accept_submission(
            session,
            store,
            tenant_id=owner.id,
            data=data,
            image=inspect_image(data, max_bytes=10**6, max_pixels=10**6),
            policy_slug="default",
            external_id=None,
        )
    return accepted.id


def test_purge_erasure_and_reupload_on_the_s3_store(
    make_db: Callable[[], str], seaweedfs: SeaweedS3
) -> None:
    db, store = make_db(), _s3(seaweedfs)
    expired, queued, erased = (_upload(db, store, seed) for seed in (31, 32, 33))
    decide(db, expired, erased)
    settings = Settings(database_url=db, image_retention_days=30, review_sample_rate=0.0)

    assert erase_image(db, store, erased, Requester(None, "test")) is True
    assert not store.exists(sha_of(db, erased)) and purged_at(db, erased) is not None

    report = purge_round(db, store, settings.model_copy(update={"image_retention_days": 0}))
    assert (report.expired, report.blobs_deleted) == (1, 1)
    assert not store.exists(sha_of(db, expired)) and purged_at(db, expired) is not None
    assert store.exists(sha_of(db, queued)) and purged_at(db, queued) is None

    again = _upload(db, store, 31)  # the same bytes as the purged one
    assert store.exists(sha_of(db, again)) and store.get(sha_of(db, again))
