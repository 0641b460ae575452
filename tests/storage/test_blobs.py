"""Content-addressed blobs: stored once, read back, refused for bad digests."""

from __future__ import annotations

import errno
import hashlib
import os
import platform
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from moderation.config import Settings
from moderation.storage import blobs
from moderation.storage.blobs import BlobNotFound, BlobSync, FileBlobStore

MODES: list[BlobSync] = ["filesystem", "file"]


@pytest.mark.parametrize("sync", MODES)
def test_put_get_once(tmp_path: Path, sync: BlobSync) -> None:
    store = FileBlobStore(tmp_path, sync)
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
    store = FileBlobStore(tmp_path, "file")
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


def test_file_mode_syncs_each_blob_before_renaming_it_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Synced after the rename, a blob could be renamed over by another process storing the
    same image: the name would then point at that process's copy, not yet on disk, while
    this upload was answered, and a power loss would leave an empty blob (issue #25)."""
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync " + os.readlink(f"/proc/self/fd/{fd}").rsplit("/", 1)[-1][:5])
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        calls.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(blobs.os, "fsync", fsync)
    monkeypatch.setattr(blobs.os, "replace", replace)
    assert FileBlobStore(tmp_path, "file").put_many([_blob(7)]) == [None]
    assert calls[:2] == ["fsync .tmp-", "rename"]


@pytest.mark.parametrize("sync", MODES)
def test_put_many_fails_only_the_blob_that_cannot_be_stored(tmp_path: Path, sync: BlobSync) -> None:
    store = FileBlobStore(tmp_path, sync)
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


@pytest.mark.parametrize("sync", MODES)
@pytest.mark.parametrize(
    ("left", "data"),
    [(b"", b"the real data"), (b"\x00" * 13, b"the real data"), (b"the real", b"the real data")],
    ids=["empty", "zeroed, same size", "short"],
)
def test_a_torn_file_left_under_the_blobs_name_is_written_again(
    tmp_path: Path, left: bytes, data: bytes, sync: BlobSync
) -> None:
    """A crash between rename and sync can leave the name with no data or zeroed data (an
    upload never answered); the next upload of the same bytes must not trust it."""
    store = FileBlobStore(tmp_path, sync)
    digest = hashlib.sha256(data).hexdigest()
    path = store._path(digest)
    path.parent.mkdir(parents=True)
    path.write_bytes(left)
    store.put(digest, data)
    assert store.get(digest) == data


@pytest.mark.parametrize(
    ("system", "release", "reports"),
    [
        ("linux", "5.8.0", True),
        ("linux", "6.18.44-fc-v669", True),
        ("linux", "5.7.19", False),
        ("linux", "4.19.0-generic", False),
        ("darwin", "23.1.0", False),
        ("linux", "unknown", False),
    ],
)
def test_syncfs_is_trusted_only_where_it_reports_write_back_errors(
    system: str, release: str, reports: bool
) -> None:
    """Linux 5.8 on: before, syncfs returned 0 even when write-back failed."""
    assert blobs._syncfs_reports_errors(system, release) is reports


def test_the_real_syncfs_where_this_kernel_has_it() -> None:
    trusted = blobs._syncfs_reports_errors(sys.platform, platform.release())
    assert (blobs._SYNCFS is not None) == trusted
    if blobs._SYNCFS is not None:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            blobs._SYNCFS(fd)  # the real system call: no error
            with pytest.raises(OSError) as refused:
                blobs._SYNCFS(-1)
            assert refused.value.errno == errno.EBADF
        finally:
            os.close(fd)


def test_a_filesystem_round_is_one_syncfs_and_no_sync_per_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round's blobs (and their names) are made durable by one syncfs of the store's
    filesystem, after every rename; a round of blobs already stored syncs too (another
    upload may have written them a moment ago, not yet on disk)."""
    rounds: list[set[str]] = []
    per_file: list[int] = []

    def recording_syncfs(fd: int) -> None:
        assert os.path.samestat(os.fstat(fd), os.stat(tmp_path))  # the store's filesystem
        rounds.append({p.name for p in tmp_path.rglob("*") if p.is_file()})

    monkeypatch.setattr(blobs, "_SYNCFS", recording_syncfs)
    monkeypatch.setattr(blobs.os, "fsync", per_file.append)
    store = FileBlobStore(tmp_path, "filesystem")
    round_ = [_blob(i) for i in range(4)]
    assert store.put_many(round_) == [None] * 4
    assert rounds == [{digest for digest, _ in round_}]  # synced once, all renamed by then
    assert per_file == []
    assert [store.get(digest) for digest, _ in round_] == [data for _, data in round_]
    assert store.put_many(round_) == [None] * 4
    assert len(rounds) == 2 and per_file == []


def test_a_failed_syncfs_fails_every_blob_of_the_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write-back error anywhere on the filesystem since the round began: no blob of the
    round can be vouched for, so every upload of it fails (and is retried by its client)."""

    def failing_syncfs(fd: int) -> None:
        raise OSError(errno.EIO, "write-back failed")

    monkeypatch.setattr(blobs, "_SYNCFS", failing_syncfs)
    store = FileBlobStore(tmp_path, "filesystem")
    errors = store.put_many([_blob(1), _blob(2)])
    assert [e.errno if e else None for e in errors] == [errno.EIO, errno.EIO]
    with pytest.raises(OSError, match="write-back failed"):
        store.put(*_blob(3))


def test_file_mode_never_calls_syncfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unexpected(fd: int) -> None:
        raise AssertionError("syncfs in file mode")

    monkeypatch.setattr(blobs, "_SYNCFS", unexpected)
    store = FileBlobStore(tmp_path, "file")
    digest, data = _blob(1)
    store.put(digest, data)
    assert store.get(digest) == data


def test_the_setting_chooses_how_rounds_are_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODERATION_BLOB_DIR", str(tmp_path))
    default = blobs.blob_store(Settings(_env_file=None))  # type: ignore[call-arg]
    assert default.root == tmp_path and default._syncfs is blobs._SYNCFS
    monkeypatch.setenv("MODERATION_BLOB_SYNC", "file")
    assert blobs.blob_store(Settings(_env_file=None))._syncfs is None  # type: ignore[call-arg]
    monkeypatch.setenv("MODERATION_BLOB_SYNC", "fsync")
    with pytest.raises(ValidationError, match="blob_sync"):
        Settings(_env_file=None)  # type: ignore[call-arg]
