"""Content-addressed blob store on a filesystem (a volume shared by API and workers)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path


class BlobNotFound(LookupError):
    """No blob is stored under this sha256."""


class FileBlobStore:
    """Stores each distinct content once, under ``root/ab/cd/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[str] = set()  # directories known to exist

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        """Store ``data`` under its digest, durably (synced) before this returns; a no-op when
        the same content is already there."""
        (error,) = self.put_many([(sha256, data)])
        if error is not None:
            raise error

    def put_many(self, blobs: Sequence[tuple[str, bytes]]) -> list[OSError | None]:
        """Store several ``(sha256, data)``, all durably before this returns; per blob, the
        error that kept it out (disk full, volume gone), else None.

        Each blob is written to a temporary file, renamed into place (readers see all of a
        blob or nothing) and then synced; then every directory that gained an entry is
        synced, without which a power loss could undo a rename after the upload was
        answered. Syncing after the rename lets a journaling filesystem make data, file and
        name durable in one commit (the directory syncs then find nothing left to do). A
        crash between rename and sync can leave a torn file under the blob's name, for an
        upload never answered: a blob found stored is therefore compared with the data and
        synced before it is trusted, and written again when it differs. Few system calls: on
        a busy API process each one is a wait for the interpreter lock."""
        errors: list[OSError | None] = []
        changed: set[str] = set()
        for sha256, data in blobs:
            try:
                changed.update(self._write(sha256, data))
            except OSError as exc:
                errors.append(exc)
            else:
                errors.append(None)
        try:
            for directory in changed:
                _sync_directory(directory)
        except OSError as exc:  # no blob of the round can be vouched for
            return [error or exc for error in errors]
        return errors

    def _write(self, sha256: str, data: bytes) -> list[str]:
        """Write one blob (renamed into place, synced); the directories whose entries changed
        (none when the blob is already stored)."""
        path = str(self._path(sha256))
        if _holds(path, data):
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
                os.replace(tmp, path)
                os.fsync(fd)
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


def _sync_directory(directory: str) -> None:
    """Make the entries of ``directory`` durable (its renames and new files)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _holds(path: str, data: bytes) -> bool:
    """Whether ``path`` holds exactly ``data``, made durable (synced) here if it was not."""
    try:
        with open(path, "rb") as stored:
            if stored.read(len(data) + 1) != data:  # one byte more: a longer file differs too
                return False
            os.fsync(stored.fileno())
            return True
    except FileNotFoundError:
        return False
