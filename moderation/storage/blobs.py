"""Content-addressed blob store on a filesystem (a volume shared by API and workers)."""

from __future__ import annotations

import os
import uuid
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
        the same content is already there. Few system calls: on a busy API process each one
        is a wait for the interpreter lock."""
        path = str(self._path(sha256))
        if os.path.exists(path):
            return
        parent = os.path.dirname(path)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)
            self._made.add(parent)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        # O_DSYNC: each write returns once its data (and the file's size) are on disk
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DSYNC, 0o644)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)  # atomic: readers see all of it or nothing
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes:
        """The stored bytes (BlobNotFound when missing)."""
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(sha256) from exc

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        return self._path(sha256).exists()
