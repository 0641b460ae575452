"""An in-memory PDQ index: faiss's multi-index hashing over 256-bit codes, the structure of
``threatexchange``'s ``PDQMultiHashIndex`` (HMA's), with our entry sequence numbers as ids.

The 256 bits are cut into 16 chunks of 16 bits, each a hash table. Two hashes within distance
d < 16 * (f + 1) agree on some chunk up to f flipped bits (pigeonhole), so probing every
chunk with up to ``f = d // 16`` flips finds all of them: exact, not approximate, at d = 31
(f = 1: 17 probes per chunk). Candidates are then checked at full length."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import faiss
import numpy as np

from moderation.banks.hashing import PDQ_BITS

NHASH = 16


def codes(hexes: Sequence[str]) -> np.ndarray:
    """PDQ hex strings as an (n, 32) uint8 array of codes."""
    joined = "".join(hexes)
    return np.frombuffer(bytes.fromhex(joined), dtype=np.uint8).reshape(len(hexes), 32)


class PdqIndex:
    """PDQ hashes under integer ids; ``search`` gives each query's ids within a distance.
    Thread-safe (one lock: adds are rare, searches short)."""

    def __init__(self) -> None:
        self._mih = faiss.IndexBinaryMultiHash(PDQ_BITS, NHASH, PDQ_BITS // NHASH)
        self._index = faiss.IndexBinaryIDMap2(self._mih)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, hexes: Sequence[str], ids: Sequence[int]) -> None:
        """Add hashes under their ids (an id added twice is found twice)."""
        if not hexes:
            return
        with self._lock:
            self._index.add_with_ids(codes(hexes), np.asarray(ids, dtype=np.int64))

    def search(self, hexes: Sequence[str], max_distance: int) -> list[list[tuple[int, int]]]:
        """For each query, ``(id, distance)`` of every hash within ``max_distance``."""
        if not hexes or not len(self):
            return [[] for _ in hexes]
        with self._lock:
            self._mih.nflip = max_distance // NHASH
            limits, dist, ids = self._index.range_search(codes(hexes), max_distance + 1)
        return [
            [(int(ids[j]), int(dist[j])) for j in range(limits[i], limits[i + 1])]
            for i in range(len(hexes))
        ]
