"""Content-addressed blobs: stored once, read back, refused for bad digests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from moderation.storage import blobs
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


def _blob(seed: int, prefix: str = "") -> tuple[str, bytes]:
    """Data whose sha256 starts with ``prefix`` (searched by counter)."""
    n = 0
    while True:
        data = f"blob {seed} {n}".encode()
        digest = hashlib.sha256(data).hexdigest()
        if digest.startswith(prefix):
            return digest, data
        n += 1


def test_put_many_syncs_every_directory_that_gained_a_blob_after_its_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the directory sync a power loss could undo a rename after the upload was
    answered: the row would point at a blob that is not there."""
    synced: list[tuple[str, set[str]]] = []
    real_sync = blobs._sync_directory

    def recording_sync(directory: str) -> None:
        synced.append((directory, {p.name for p in Path(directory).iterdir()}))
        real_sync(directory)

    monkeypatch.setattr(blobs, "_sync_directory", recording_sync)
    store = FileBlobStore(tmp_path)
    round_ = [_blob(i) for i in range(4)]
    assert store.put_many(round_) == [None] * 4
    entries = dict(synced)
    for digest, data in round_:
        path = store._path(digest)
        assert path.read_bytes() == data
        assert path.name in entries[str(path.parent)]  # synced once renamed into place
        assert path.parent.parent.name in entries[str(path.parent.parent.parent)]
    assert str(tmp_path) in entries  # the new first-level directories

    synced.clear()
    assert store.put_many(round_) == [None] * 4  # already stored: nothing written or synced
    assert synced == []


def test_put_many_fails_only_the_blob_that_cannot_be_stored(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    bad_digest, bad_data = _blob(1, prefix="ab")
    (tmp_path / "ab").write_text("a file where a blob directory should be")
    good = [_blob(2, prefix="cd"), _blob(3, prefix="ef")]
    errors = store.put_many([good[0], (bad_digest, bad_data), good[1]])
    assert errors[0] is None and errors[2] is None
    assert isinstance(errors[1], OSError)
    assert [store.get(d) for d, _ in good] == [data for _, data in good]
    assert not store.exists(bad_digest)
    with pytest.raises(OSError):
        store.put(bad_digest, bad_data)


@pytest.mark.parametrize(
    ("left", "data"),
    [(b"", b"the real data"), (b"\x00" * 13, b"the real data"), (b"the real", b"the real data")],
    ids=["empty", "zeroed, same size", "short"],
)
def test_a_torn_file_left_under_the_blobs_name_is_written_again(
    tmp_path: Path, left: bytes, data: bytes
) -> None:
    """A crash between rename and sync can leave the name with no data or zeroed data (an
    upload never answered); the next upload of the same bytes must not trust it."""
    store = FileBlobStore(tmp_path)
    digest = hashlib.sha256(data).hexdigest()
    path = store._path(digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(left)
    store.put(digest, data)
    assert store.get(digest) == data
