"""A cheap, stable fingerprint of a checkpoint folder (never reads multi-GB weights in full)."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Files up to this size are hashed in full: configs, tokenizer, chat template, tiny weights.
_FULL_HASH_LIMIT = 16 * 1024 * 1024
# Of bigger files (weight shards) only the size and these many bytes at each end are hashed:
# the start holds the safetensors header (names, dtypes, shapes) and the first tensors.
_SAMPLE = 1024 * 1024


def _file_digest(path: Path) -> bytes:
    size = path.stat().st_size
    h = hashlib.sha256(f"{path.name}\0{size}\0".encode())
    with path.open("rb") as f:
        if size <= _FULL_HASH_LIMIT:
            h.update(f.read())
        else:
            h.update(f.read(_SAMPLE))
            f.seek(size - _SAMPLE)
            h.update(f.read(_SAMPLE))
    return h.digest()


def directory_fingerprint(directory: Path) -> str:
    """sha256 over the top-level files of ``directory`` (hidden files skipped), sorted by name."""
    h = hashlib.sha256()
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"no checkpoint files in {directory}")
    for path in files:
        h.update(_file_digest(path))
    return h.hexdigest()
