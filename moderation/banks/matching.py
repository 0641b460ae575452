"""Matching images against the banks: each image's hashes (computed once, stored), then an
exact MD5/SHA-256 hit or a PDQ hit within its bank's distance, only in the banks the tenant is
matched against (its own and the global ones).

Each process keeps one PDQ index of every bank's entries (:class:`BankIndex`). Before each
lookup batch it reads the entries added since its last read (one indexed query), so a worker
sees every entry committed before its batch began: staleness is bounded by one batch. Deleted
entries and banks stay in the index until the process restarts, but every hit is re-read from
the database with its bank and owner, so they never match."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from moderation.banks import repository as repo
from moderation.banks.hashing import MIN_QUALITY, ImageHashes, distance, hash_image
from moderation.banks.index import PdqIndex
from moderation.banks.models import BankEntry, HashBank

log = logging.getLogger(__name__)
REFRESH_BATCH = 50_000
_SEVERITY = {"block": 0, "review": 1}


@dataclass(frozen=True)
class BankHit:
    """An entry that matches an image, and how (``md5``, ``sha256`` or ``pdq``)."""

    bank_id: uuid.UUID
    bank_name: str
    entry_id: uuid.UUID
    action: str
    label: str | None
    distance: int
    kind: str

    def as_match(self) -> dict[str, Any]:
        """The ``decision.match`` of a submission decided by this hit."""
        return {
            "bank": str(self.bank_id),
            "bank_name": self.bank_name,
            "entry": str(self.entry_id),
            "distance": self.distance,
            "kind": self.kind,
        }


class BankIndex:
    """This process's PDQ index of every bank entry, refreshed incrementally."""

    def __init__(self) -> None:
        self.pdq = PdqIndex()
        self.last_seq = 0
        self.max_distance = 0
        self._lock = threading.Lock()

    def refresh(self, session: Session) -> int:
        """Add the entries added since the last refresh; how many."""
        added = 0
        with self._lock:
            self.max_distance = repo.max_distance(session)
            while rows := repo.pdq_since(session, self.last_seq, REFRESH_BATCH):
                self.pdq.add([p for _, p in rows], [s for s, _ in rows])
                self.last_seq = rows[-1][0]
                added += len(rows)
        return added

    def search(self, pdq: str, max_distance: int | None = None) -> list[tuple[int, int]]:
        """``(seq, distance)`` of the entries within the largest bank distance."""
        limit = self.max_distance if max_distance is None else max_distance
        return self.pdq.search([pdq], limit)[0]


_INDEXES: dict[str, BankIndex] = {}
_INDEXES_LOCK = threading.Lock()


def bank_index(db_url: str) -> BankIndex:
    """The process's index of the banks of ``db_url``."""
    with _INDEXES_LOCK:
        return _INDEXES.setdefault(db_url, BankIndex())


def hashes_of(session: Session, images: Mapping[str, bytes]) -> dict[str, ImageHashes]:
    """The hashes of each image (by sha256): stored ones read, the others computed and stored.
    An image that cannot be hashed is left out (it goes to the model as usual)."""
    stored = repo.image_hashes(session, list(images))
    found = {sha: ImageHashes(h.pdq, h.quality, h.md5, sha) for sha, h in stored.items()}
    new = []
    for sha, data in images.items():
        if sha in found:
            continue
        try:
            found[sha] = hashed = hash_image(data)
        except Exception:  # a decoder's refusal: the model's image checks report it
            log.warning("could not hash image %s", sha, exc_info=True)
            continue
        new.append({"sha256": sha, "pdq": hashed.pdq, "quality": hashed.quality, "md5": hashed.md5})
    repo.add_image_hashes(session, new)
    return found


def entry_hit(entry: BankEntry, bank: HashBank, hashes: ImageHashes) -> BankHit | None:
    """How ``entry`` of ``bank`` matches the image, if it does: the same SHA-256 or MD5, or a
    PDQ hash within the bank's distance (only when the image's PDQ quality is at least 50)."""
    pdq_ok = hashes.quality >= MIN_QUALITY
    if entry.sha256 is not None and entry.sha256 == hashes.sha256:
        kind, dist = "sha256", 0
    elif entry.md5 is not None and entry.md5 == hashes.md5:
        kind, dist = "md5", 0
    elif pdq_ok and entry.pdq is not None:
        kind, dist = "pdq", distance(entry.pdq, hashes.pdq)
        if dist > bank.distance:
            return None
    else:
        return None
    return BankHit(bank.id, bank.name, entry.id, entry.action, entry.label, dist, kind)


def best_hit(hits: Sequence[BankHit]) -> BankHit | None:
    """The hit that decides: a block before a review, then the closest."""
    return min(hits, key=lambda h: (_SEVERITY.get(h.action, 2), h.distance), default=None)


def match_image(
    session: Session, index: BankIndex, tenant_id: uuid.UUID, hashes: ImageHashes
) -> BankHit | None:
    """The entry of the tenant's or the global banks that decides this image, if any. A PDQ
    hash under quality 50 never matches (an exact MD5/SHA-256 still does)."""
    pdq_ok = hashes.quality >= MIN_QUALITY
    seqs = [seq for seq, _ in index.search(hashes.pdq)] if pdq_ok else []
    found = repo.candidates(session, tenant_id, seqs, hashes.md5, hashes.sha256)
    hits = [h for e, b in found if (h := entry_hit(e, b, hashes)) is not None]
    return best_hit(hits)
