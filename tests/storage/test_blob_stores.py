"""One suite for every blob store: the filesystem one and S3 (a real SeaweedFS server)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from moderation.config import Settings
from moderation.storage.blobs import (
    BlobNotFound,
    BlobStore,
    BlobStoreUnavailable,
    FileBlobStore,
    blob_key,
    blob_store,
)
from moderation.storage.s3_blobs import S3BlobStore
from tests.support.processes import free_port
from tests.support.seaweedfs import SeaweedS3

Corrupt = Callable[[str, bytes], None]  # store other bytes under a blob's name


def _s3_settings(server: SeaweedS3, bucket: str, **overrides: object) -> Settings:
    env = server.settings_env(bucket, prefix="blobs/")
    values = {k.removeprefix("MODERATION_").lower(): v for k, v in env.items()}
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[BlobStore, Corrupt]:
    """Each store, empty, with a way to tear one of its blobs behind its back."""
    if request.param == "file":
        files = FileBlobStore(tmp_path / "blobs")

        def tear_file(sha256: str, data: bytes) -> None:
            path = files.root / blob_key(sha256)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        return files, tear_file
    server: SeaweedS3 = request.getfixturevalue("seaweedfs")
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    server.create_bucket(bucket)
    objects = blob_store(_s3_settings(server, bucket))
    assert isinstance(objects, S3BlobStore)

    def tear_object(sha256: str, data: bytes) -> None:  # a PUT without our checksum
        objects.client.put_object(Bucket=bucket, Key=objects.prefix + blob_key(sha256), Body=data)

    return objects, tear_object


def _blob(seed: int) -> tuple[str, bytes]:
    data = f"blob {seed} ".encode() * (seed % 7 + 1)
    return hashlib.sha256(data).hexdigest(), data


def test_put_get_exists_delete(store: tuple[BlobStore, Corrupt]) -> None:
    blobs, _ = store
    digest, data = _blob(1)
    assert not blobs.exists(digest)
    blobs.put(digest, data)
    blobs.put(digest, data)  # stored once, the second put is a no-op
    assert blobs.exists(digest)
    assert blobs.get(digest) == data
    blobs.delete_many([digest, _blob(2)[0]])  # a missing one is gone already
    assert not blobs.exists(digest)
    with pytest.raises(BlobNotFound):
        blobs.get(digest)


def test_put_many_stores_a_round(store: tuple[BlobStore, Corrupt]) -> None:
    blobs, _ = store
    round_ = [_blob(i) for i in range(40)]
    assert blobs.put_many(round_) == [None] * 40
    assert all(blobs.get(digest) == data for digest, data in round_)
    blobs.delete_many([digest for digest, _ in round_])
    assert not any(blobs.exists(digest) for digest, _ in round_)


def test_malformed_digest_refused(store: tuple[BlobStore, Corrupt]) -> None:
    blobs, _ = store
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63):
        with pytest.raises(ValueError, match="sha256"):
            blobs.get(bad)
        with pytest.raises(ValueError, match="sha256"):
            blobs.exists(bad)


def test_a_torn_blob_is_verified_and_written_again(store: tuple[BlobStore, Corrupt]) -> None:
    """A blob found under its name is trusted only when it holds the data: a shorter, a
    longer and a same-size different copy are each replaced."""
    blobs, tear = store
    digest, data = _blob(3)
    for torn in (data[:-1], data + b"!", b"x" * len(data)):
        tear(digest, torn)
        assert blobs.get(digest) == torn
        assert blobs.put_many([(digest, data)]) == [None]
        assert blobs.get(digest) == data


def test_check_reports_ok(store: tuple[BlobStore, Corrupt]) -> None:
    blobs, _ = store
    assert blobs.check()["status"] == "ok"


def test_s3_unreachable_is_unavailable_fast(seaweedfs: SeaweedS3) -> None:
    """Nothing listens: each call fails within the bounded timeout, as BlobStoreUnavailable."""
    import time

    settings = _s3_settings(seaweedfs, "nowhere", s3_timeout_s=0.5)
    settings.s3_endpoint_url = f"http://127.0.0.1:{free_port()}"
    blobs = blob_store(settings)
    digest, data = _blob(4)
    started = time.monotonic()
    (error,) = blobs.put_many([(digest, data)])
    assert isinstance(error, BlobStoreUnavailable)
    with pytest.raises(BlobStoreUnavailable):
        blobs.get(digest)
    assert blobs.check()["status"].startswith("error")
    assert time.monotonic() - started < 10


def test_s3_store_writes_nothing_under_the_blob_dir(seaweedfs: SeaweedS3, tmp_path: Path) -> None:
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    seaweedfs.create_bucket(bucket)
    blobs = blob_store(_s3_settings(seaweedfs, bucket, blob_dir=str(tmp_path / "blobs")))
    blobs.put(*_blob(5))
    assert blobs.check()["status"] == "ok"
    assert not (tmp_path / "blobs").exists()


def test_s3_needs_a_bucket() -> None:
    with pytest.raises(ValueError, match="MODERATION_S3_BUCKET"):
        Settings(blob_store="s3")
