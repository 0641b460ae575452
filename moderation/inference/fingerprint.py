"""What a checkpoint folder says about itself: a cheap, stable fingerprint (never reads
multi-GB weights in full) and the demo marker of the checkpoints this project builds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

# Written beside the weights of a checkpoint built by ``tiny.build_tiny``.
MARKER_FILE = "moderation_checkpoint.json"

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


def read_marker(path: Path) -> dict[str, Any]:
    """A demo marker file's fields (``random_weights``, ``model_id``), or {} when there is none."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def local_revision(directory: Path) -> str:
    """The revision of a checkpoint in a local folder: ``sha256:`` and its fingerprint's head."""
    return "sha256:" + directory_fingerprint(directory)[:16]
