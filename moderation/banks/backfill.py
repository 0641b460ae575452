"""A new bank entry looks back: the recent submissions that the model allowed and that the
entry matches wait in the review queue with reason ``hash_match``.

The new entries go in an index of their own; the window's allowed submissions are read once
and each looked up in it, so adding one entry or a million costs one pass over the window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.banks import repository as repo
from moderation.banks.hashing import MIN_QUALITY, ImageHashes
from moderation.banks.index import PdqIndex
from moderation.banks.matching import BankHit, best_hit, entry_hit
from moderation.banks.models import BankEntry, HashBank


def backfill(session: Session, bank: HashBank, added: Sequence[BankEntry], since: datetime) -> int:
    """Flag the submissions since ``since`` (of the bank's tenant; every tenant's for a global
    bank) that the model allowed and ``added`` matches; how many were flagged now."""
    index = PdqIndex()
    with_pdq = [e for e in added if e.pdq is not None]
    index.add([e.pdq for e in with_pdq if e.pdq], [e.seq for e in with_pdq])
    by_seq = {e.seq: e for e in added}
    exact = {h: e for e in added for h in (e.md5, e.sha256) if h is not None}
    found: list[tuple[object, object, BankHit]] = []
    for sid, tenant_id, stored in repo.allowed_since(session, bank.tenant_id, since):
        hashes = ImageHashes(stored.pdq, stored.quality, stored.md5, stored.sha256)
        candidates = [exact[h] for h in (hashes.md5, hashes.sha256) if h in exact]
        if hashes.quality >= MIN_QUALITY:
            candidates += [by_seq[s] for s, _ in index.search([hashes.pdq], bank.distance)[0]]
        hits = [h for e in candidates if (h := entry_hit(e, bank, hashes)) is not None]
        if (hit := best_hit(hits)) is not None:
            found.append((sid, tenant_id, hit))
    flagged = set(
        repo.add_matches(
            session,
            [
                {"submission_id": s, "entry_id": h.entry_id, "distance": h.distance}
                for s, _, h in found
            ],
        )
    )
    audit.append_many(
        session,
        [
            {
                "tenant_id": tenant_id,
                "subject_type": "submission",
                "subject_id": str(sid),
                "event": "decision.hash_matched",
                "actor": f"bank:{bank.id}",
                "data": {"match": hit.as_match(), "queued_for": "review"},
            }
            for sid, tenant_id, hit in found
            if sid in flagged
        ],
    )
    return len(flagged)
