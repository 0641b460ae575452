"""Content-addressed blobs on S3 or any S3-compatible store (SeaweedFS, MinIO, Ceph, R2...).

Each blob is one object, ``<prefix>ab/cd/<sha256>``, written by a single PUT that carries the
content's SHA-256 checksum: the store refuses a body that does not match it, and a PUT is
atomic (readers see the whole object or none), so there is no torn object to fear from a crash.
An object found stored is still verified (its size and the SHA-256 checksum the store keeps,
or, where it keeps none, the ETag of a single-part upload: the MD5 of the bytes) before an
upload trusts it; otherwise it is written again. boto3: the AWS SDK, kept by AWS, with the
standard credential chain, bounded timeouts and retries, and thread-safe clients that let an
intake round PUT its objects concurrently."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from moderation.storage.blobs import BlobNotFound, BlobStoreUnavailable, blob_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from moderation.config import Settings

T = TypeVar("T")
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    """Blobs as objects of ``bucket`` under ``prefix``; at most ``concurrency`` requests of a
    :meth:`put_many` round in flight."""

    def __init__(self, client: S3Client, bucket: str, prefix: str = "", concurrency: int = 16):
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self._concurrency = concurrency
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _key(self, sha256: str) -> str:
        return self.prefix + blob_key(sha256)

    def put(self, sha256: str, data: bytes) -> None:
        """Store ``data`` under its digest (a successful PUT) before this returns; a no-op when
        the same content is verified stored already."""
        (error,) = self.put_many([(sha256, data)])
        if error is not None:
            raise error

    def put_many(self, blobs: Sequence[tuple[str, bytes]]) -> list[OSError | None]:
        """Store several ``(sha256, data)`` concurrently; per blob, the error that kept it out
        (BlobStoreUnavailable when the store could not be reached), else None."""
        if len(blobs) == 1:
            return [_error_of(self._put_one, *blobs[0])]
        return list(self._executor().map(lambda blob: _error_of(self._put_one, *blob), blobs))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="s3")
        return self._pool

    def _put_one(self, sha256: str, data: bytes) -> None:
        key, digest = self._key(sha256), hashlib.sha256(data).digest()
        if digest.hex() != sha256:
            raise ValueError(f"the data's sha256 is not {sha256}")
        checksum = base64.b64encode(digest).decode()
        if self._holds(key, data, checksum):
            return
        _call(
            lambda: self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentLength=len(data),
                ChecksumSHA256=checksum,  # the store refuses a body that does not match
            )
        )

    def _holds(self, key: str, data: bytes, checksum: str) -> bool:
        """Whether the object under ``key`` is verified to hold ``data``."""
        try:
            head = _call(
                lambda: self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            )
        except BlobNotFound:
            return False
        if head.get("ContentLength") != len(data):
            return False
        stored = head.get("ChecksumSHA256")
        if stored is not None:
            return stored == checksum
        etag = head.get("ETag", "").strip('"')  # no checksum kept: a single-part upload's MD5
        return etag == hashlib.md5(data, usedforsecurity=False).hexdigest()

    def get(self, sha256: str) -> bytes:
        """The stored bytes (BlobNotFound when missing)."""
        key = self._key(sha256)
        response = _call(lambda: self.client.get_object(Bucket=self.bucket, Key=key))
        return _call(response["Body"].read)

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        key = self._key(sha256)
        try:
            _call(lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except BlobNotFound:
            return False
        return True

    def delete_many(self, shas: Sequence[str]) -> None:
        """Delete these objects (missing ones are gone already), a thousand per request; an
        OSError when any of them could not be deleted (the purge tries again later)."""
        keys = [self._key(sha256) for sha256 in shas]
        for start in range(0, len(keys), DELETE_BATCH):
            objects: Any = [{"Key": key} for key in keys[start : start + DELETE_BATCH]]
            delete: Any = {"Objects": objects, "Quiet": True}
            response = _call(partial(self.client.delete_objects, Bucket=self.bucket, Delete=delete))
            errors = [e for e in response.get("Errors", []) if e.get("Code") not in _MISSING]
            if errors:
                first = errors[0]
                raise OSError(f"{len(errors)} blobs not deleted: {first.get('Key')}: {first}")

    def check(self) -> dict[str, str]:
        """``ok`` when the bucket answers (HeadBucket), else ``error: ...``."""
        body = {"kind": "s3", "bucket": self.bucket}
        try:
            _call(lambda: self.client.head_bucket(Bucket=self.bucket))
        except (OSError, BlobNotFound) as exc:
            return {**body, "status": f"error: {type(exc).__name__}: {exc}"}
        return {**body, "status": "ok"}


def _error_of(put: Callable[[str, bytes], None], sha256: str, data: bytes) -> OSError | None:
    try:
        put(sha256, data)
    except OSError as exc:
        return exc
    return None


def _call(request: Callable[[], T]) -> T:
    """Run one request, its failures as ours: BlobNotFound (404), BlobStoreUnavailable (no
    connection, a timeout, 5xx, throttling: worth retrying), OSError (anything else)."""
    try:
        return request()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _MISSING or status == 404:
            raise BlobNotFound(code) from exc
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "Throttling"):
            raise BlobStoreUnavailable(f"object store: {code} ({status})") from exc
        raise OSError(f"object store refused: {code} ({status}): {error.get('Message')}") from exc
    except BotoCoreError as exc:  # no connection, timeouts, a connection closed midway
        raise BlobStoreUnavailable(f"object store unreachable: {exc}") from exc


_stores: dict[tuple[object, ...], S3BlobStore] = {}
_stores_lock = threading.Lock()


def s3_blob_store(settings: Settings) -> S3BlobStore:
    """The process's store for these settings (its client and connection pool are shared;
    a forked child makes its own)."""
    secret = settings.s3_secret_access_key
    key = (
        os.getpid(),
        settings.s3_endpoint_url,
        settings.s3_bucket,
        settings.s3_prefix,
        settings.s3_region,
        settings.s3_access_key_id,
        secret.get_secret_value() if secret else None,
        settings.s3_timeout_s,
        settings.s3_concurrency,
    )
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = S3BlobStore(
                _client(settings), settings.s3_bucket, settings.s3_prefix, settings.s3_concurrency
            )
            _stores[key] = store
        return store


def _client(settings: Settings) -> S3Client:
    config = Config(
        connect_timeout=settings.s3_timeout_s,
        read_timeout=settings.s3_timeout_s,
        retries={"max_attempts": 2, "mode": "standard"},  # one retry: bounded waits
        max_pool_connections=settings.s3_concurrency + 4,
        # checksums only where we ask for them (SHA-256 on PUT): not every S3-compatible store
        # takes the SDK's default CRC32 trailers
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"} if settings.s3_endpoint_url else {},
    )
    secret = settings.s3_secret_access_key
    # no key id: the standard chain (environment, profile, instance or task role)
    key_id = settings.s3_access_key_id or None
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region or None,
        config=config,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret.get_secret_value() if secret and key_id else None,
    )
