"""Content-addressed blob stores: the interface, and its implementation on a filesystem (a
volume shared by API and workers); the one on S3-compatible object storage is in
``moderation.storage.s3_blobs``."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from moderation.config import Settings

BlobSync = Literal["filesystem", "file"]


def blob_store(settings: Settings) -> BlobStore:
    """The blob store that ``settings`` describe (one per process for S3: its client and
    connection pool are shared)."""
    if settings.blob_store == "s3":
        from moderation.storage.s3_blobs import s3_blob_store

        return s3_blob_store(settings)
    return FileBlobStore(settings.resolved_blob_dir, settings.blob_sync)


class BlobNotFound(LookupError):
    """No blob is stored under this sha256."""


class BlobStoreUnavailable(OSError):
    """The blob store cannot be reached now (down, timing out, answering 5xx): try again
    later; nothing about the blob itself is wrong."""


class BlobStore(Protocol):
    """Content-addressed bytes, keyed by their sha256 hex digest. Every method raises
    ValueError for a key that is not a sha256 digest and BlobStoreUnavailable while the store
    cannot be reached (put_many returns it per blob instead)."""

    def put(self, sha256: str, data: bytes) -> None:
        """Store ``data`` durably before returning (a no-op when verified stored already)."""

    def put_many(self, blobs: Sequence[tuple[str, bytes]]) -> list[OSError | None]:
        """Store several ``(sha256, data)`` durably before returning; per blob, the error that
        kept it out, else None. A blob found stored is verified (size and content) first."""
        ...

    def get(self, sha256: str) -> bytes:
        """The stored bytes (BlobNotFound when missing)."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        ...

    def delete_many(self, shas: Sequence[str]) -> None:
        """Delete these blobs (missing ones are gone already), durably before returning."""

    def check(self) -> dict[str, str]:
        """For /healthz: the store's ``kind`` and ``status`` (``ok`` or ``error: ...``)."""
        ...


def check_sha256(sha256: str) -> str:
    """``sha256`` when it is a lowercase sha256 hex digest (ValueError otherwise)."""
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


def blob_key(sha256: str) -> str:
    """Where a blob lives below a store's root: ``ab/cd/<sha256>``."""
    check_sha256(sha256)
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class FileBlobStore:
    """Stores each distinct content once, under ``root/ab/cd/<sha256>``.

    ``sync`` says how a round of :meth:`put_many` is made durable: ``"filesystem"`` (one
    syncfs(2) for the round, where the kernel reports write-back errors through it: Linux
    5.8+; elsewhere it falls back to ``"file"``) or ``"file"`` (each blob and each directory
    that gained one synced on its own)."""

    def __init__(self, root: Path, sync: BlobSync = "filesystem") -> None:
        self.root = root
        self._made: set[str] = set()  # directories known to exist
        self._syncfs = _SYNCFS if sync == "filesystem" else None

    def _path(self, sha256: str) -> Path:
        return self.root / blob_key(sha256)

    def put(self, sha256: str, data: bytes) -> None:
        """Store ``data`` under its digest, durably (synced) before this returns; a no-op when
        the same content is already there."""
        (error,) = self.put_many([(sha256, data)])
        if error is not None:
            raise error

    def put_many(self, blobs: Sequence[tuple[str, bytes]]) -> list[OSError | None]:
        """Store several ``(sha256, data)``, all durably before this returns; per blob, the
        error that kept it out (disk full, volume gone), else None.

        Each blob is written to a temporary file and renamed into place (readers see all of
        a blob or nothing). Then the round is made durable: by one syncfs of the blob
        store's filesystem (data, files and names in one journal commit; it reports any
        write-back error on that filesystem since the round began), or file by file (each
        blob synced before its rename, then every directory that gained an entry, without
        which a power loss could undo a rename after the upload was answered). A crash
        before the sync can leave a torn file under the blob's name, for an upload never
        answered: a blob found stored is therefore compared with the data (and made durable
        with the round) before it is trusted, and written again when it differs. Few system
        calls: on a busy API process each one is a wait for the interpreter lock."""
        watch = self._watch_filesystem()
        try:
            errors: list[OSError | None] = []
            changed: set[str] = set()
            for sha256, data in blobs:
                try:
                    changed.update(self._write(sha256, data, sync_file=watch is None))
                except OSError as exc:
                    errors.append(exc)
                else:
                    errors.append(None)
            try:
                if watch is not None and self._syncfs is not None:
                    self._syncfs(watch)
                else:
                    for directory in changed:
                        _sync_directory(directory)
            except OSError as exc:  # no blob of the round can be vouched for
                return [error or exc for error in errors]
            return errors
        finally:
            if watch is not None:
                os.close(watch)

    def _watch_filesystem(self) -> int | None:
        """A descriptor on the store's filesystem, opened before the round writes anything
        (syncfs reports the write-back errors seen since); None: sync file by file."""
        if self._syncfs is None:
            return None
        try:
            if str(self.root) not in self._made:
                os.makedirs(self.root, exist_ok=True)
                self._made.add(str(self.root))
            return os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return None  # the writes will fail on their own, blob by blob

    def _write(self, sha256: str, data: bytes, *, sync_file: bool) -> list[str]:
        """Write one blob (renamed into place; synced when ``sync_file``); the directories
        whose entries changed (none when the blob is already stored)."""
        path = str(self._path(sha256))
        if _holds(path, data, sync=sync_file):
            return []
        parent = os.path.dirname(path)
        changed = [parent]
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)
            changed += [str(self.root), os.path.dirname(parent)]  # they may have gained one
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if sync_file:
                    # before the rename: whatever inode ends up under the name is durable,
                    # even when another process renames its own copy over ours meanwhile
                    os.fsync(fd)
                os.replace(tmp, path)
            finally:
                os.close(fd)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return changed

    def get(self, sha256: str) -> bytes:
        """The stored bytes (BlobNotFound when missing)."""
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(sha256) from exc

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        return self._path(sha256).exists()

    def delete_many(self, shas: Sequence[str]) -> None:
        """Delete these blobs (missing ones are gone already), durably before this returns:
        one syncfs for the lot (or each directory that lost an entry synced), so a power
        loss cannot bring back an image that the caller then records as deleted."""
        watch = self._watch_filesystem()
        try:
            changed = set()
            for sha256 in shas:
                path = self._path(sha256)
                path.unlink(missing_ok=True)
                changed.add(str(path.parent))
            if watch is not None and self._syncfs is not None:
                self._syncfs(watch)
                return
            for directory in changed:
                try:
                    _sync_directory(directory)
                except FileNotFoundError:
                    continue  # nothing was ever stored there
        finally:
            if watch is not None:
                os.close(watch)

    def check(self) -> dict[str, str]:
        """``ok`` when the blob directory exists (or can be made) and is writable."""
        try:
            os.makedirs(self.root, exist_ok=True)
            writable = os.access(self.root, os.W_OK | os.X_OK)
        except OSError as exc:
            return {"kind": "file", "status": f"error: {exc}"}
        return {"kind": "file", "status": "ok" if writable else "error: not writable"}


def _sync_directory(directory: str) -> None:
    """Make the entries of ``directory`` durable (its renames and new files)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _holds(path: str, data: bytes, *, sync: bool) -> bool:
    """Whether ``path`` holds exactly ``data`` (synced here when ``sync``: it may still be
    on its way to the disk for another upload)."""
    try:
        with open(path, "rb") as stored:
            if stored.read(len(data) + 1) != data:  # one byte more: a longer file differs too
                return False
            if sync:
                os.fsync(stored.fileno())
            return True
    except FileNotFoundError:
        return False


def _syncfs_reports_errors(system: str, release: str) -> bool:
    """Whether syncfs(2) reports write-back errors on this system (``sys.platform``) and
    kernel release: Linux 5.8 on; before, it returned 0 whatever happened."""
    version = re.match(r"(\d+)\.(\d+)", release)
    return (
        system.startswith("linux")
        and version is not None
        and (int(version[1]), int(version[2])) >= (5, 8)
    )


def _load_syncfs() -> Callable[[int], None] | None:
    """syncfs(2) from the C library, where it reports write-back errors; else None."""
    if not _syncfs_reports_errors(sys.platform, platform.release()):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = [ctypes.c_int], ctypes.c_int

    def syncfs(fd: int) -> None:  # ctypes lets the other threads run meanwhile
        if function(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))

    return syncfs


_SYNCFS = _load_syncfs()
