"""The flow's hash-bank step: a claim whose image, or one of whose chosen frames, an entry
of the tenant's or the global banks matches is decided by that entry, with no model call."""

from __future__ import annotations

import time
import uuid
from contextlib import suppress

from sqlalchemy.orm import Session

from moderation.banks.hashing import ImageHashes, hash_frame
from moderation.banks.matching import BankHit, bank_index, best_hit, hashes_of, match_image
from moderation.storage.blobs import BlobNotFound
from moderation.storage.db import statement_scope
from moderation.submissions.flow_state import Claim, FlowContext, FlowReport, count_decisions
from moderation.submissions.hash_decisions import HashMatch, record_hash_matches
from moderation.webhooks.events import MODERATION_DECIDED, fanout

# per submission: (frame index, None for the image itself; its hashes)
Found = dict[uuid.UUID, list[tuple[int | None, ImageHashes]]]


def match_banks(ctx: FlowContext, claims: list[Claim], report: FlowReport) -> list[Claim]:
    """Decide the claims whose image a bank entry matches (no model call); the rest. Each
    image's hashes are computed once and stored; an unreadable blob is left to the model's
    image checks."""
    started = time.perf_counter()
    for c in claims:
        with suppress(BlobNotFound):
            c.data = ctx.blobs.get(c.submission.image_sha256)
    images = {c.submission.image_sha256: c.data for c in claims if c.data is not None}
    if not images:
        return claims
    with statement_scope(ctx.db_url) as session:
        hashes = hashes_of(session, images)
        found: Found = {
            c.submission.id: [(None, h)]
            for c in claims
            if (h := hashes.get(c.submission.image_sha256)) is not None
        }
        return _decide_matches(ctx, session, claims, found, started, report)


def match_frame_banks(ctx: FlowContext, claims: list[Claim], report: FlowReport) -> list[Claim]:
    """Decide the claims of which a chosen frame matches a bank entry (PDQ of the frame);
    the rest."""
    started = time.perf_counter()
    found: Found = {
        c.submission.id: [(f.index, hash_frame(f.image)) for f in c.frames]
        for c in claims
        if c.frames
    }
    if not found:
        return claims
    with statement_scope(ctx.db_url) as session:
        return _decide_matches(ctx, session, claims, found, started, report)


def _decide_matches(
    ctx: FlowContext,
    session: Session,
    claims: list[Claim],
    found: Found,
    started: float,
    report: FlowReport,
) -> list[Claim]:
    """Record a hash-match decision for each claim whose image (frame None) or frames
    (``found``, by submission) a bank entry matches; the claims left."""
    index = bank_index(ctx.db_url)
    index.refresh(session)
    matches: dict[uuid.UUID, HashMatch] = {}
    for c in claims:
        hits: list[tuple[BankHit, int | None]] = []
        for frame, hashes in found.get(c.submission.id, []):
            hit = match_image(session, index, c.submission.tenant_id, hashes)
            if hit is not None:
                hits.append((hit, frame))
        best = best_hit([h for h, _ in hits])
        if best is not None:
            frame = next(f for h, f in hits if h is best)
            ms = (time.perf_counter() - started) * 1000
            matches[c.submission.id] = HashMatch(c.submission, c.policy, best, ms, frame)
    if matches:
        written = record_hash_matches(session, list(matches.values()), fanout(MODERATION_DECIDED))
        count_decisions([(m.submission, "hash_match") for m in matches.values()], written)
        report.hash_matched.extend(sid for sid in matches if sid in written)
        report.skipped.extend(sid for sid in matches if sid not in written)
    return [c for c in claims if c.submission.id not in matches]
