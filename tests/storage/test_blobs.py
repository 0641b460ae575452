"""Content-addressed blobs: stored once, read back, refused for bad digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from moderation.storage.blobs import BlobNotFound, FileBlobStore


def test_put_get_once(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    data = b"abc" * 100
    digest = hashlib.sha256(data).hexdigest()
    store.put(digest, data)
    store.put(digest, data)
    assert store.get(digest) == data
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [digest]


def test_missing_and_malformed(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        store.get("0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        store.get("../../etc/passwd")
