"""Content-addressed blob store on a filesystem (a volume shared by API and workers)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class BlobNotFound(LookupError):
    """No blob is stored under this sha256."""


class FileBlobStore:
    """Stores each distinct content once, under ``root/ab/cd/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes) -> None:
        """Store ``data`` under its digest; a no-op when the same content is already there."""
        path = self._path(sha256)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
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
