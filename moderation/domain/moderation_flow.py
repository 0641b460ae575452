"""The worker's flow: claim submissions, reuse cached verdicts, run the model on the rest as one
batch, record decisions. Safe to run again for the same ids (redelivery)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from PIL.Image import Image
from sqlalchemy.orm import Session

from moderation.domain.images import ImageRejected, decode_for_model
from moderation.domain.policies import Policy
from moderation.domain.policy_catalog import policy_version
from moderation.domain.verdicts import ModelInfo, cached_verdict, record_verdict, verdict_key
from moderation.inference.types import Engine, ModerationRequest, Verdict
from moderation.storage.blobs import BlobNotFound, FileBlobStore
from moderation.storage.db import session_scope
from moderation.storage.repositories import audit, submissions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowContext:
    """What the flow needs from its process: the database, the blobs and the limits."""

    db_url: str
    blobs: FileBlobStore
    max_pixels: int
    max_attempts: int


@dataclass
class FlowReport:
    """What happened to each submission id handed to the flow."""

    decided: list[uuid.UUID] = field(default_factory=list)
    cached: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)
    retry: list[uuid.UUID] = field(default_factory=list)
    model_calls: int = 0


@dataclass
class _Claim:
    submission_id: uuid.UUID
    image_sha256: str
    policy: Policy
    model: ModelInfo
    attempts: int
    cached: tuple[uuid.UUID, Verdict] | None = None
    image: Image | None = None


def model_info(engine: Engine, policy: Policy) -> ModelInfo:
    """The provenance ``engine`` gives verdicts under ``policy``."""
    return ModelInfo(engine.model_id, engine.revision, engine.decoding_params(policy))


@lru_cache(maxsize=256)
def _policy(db_url: str, version: str) -> Policy:
    """Versions are immutable, so each is read and validated once per process."""
    with session_scope(db_url) as session:
        return policy_version(session, version)


def _fail(session: Session, submission_id: uuid.UUID, error: str) -> None:
    """Move an open submission to ``failed`` with its error, and audit it."""
    sub = submissions.lock(session, submission_id)
    if sub is None or sub.status in submissions.FINAL:
        return
    submissions.finish(session, sub, submissions.FAILED, error)
    audit.append(
        session,
        tenant_id=sub.tenant_id,
        subject_type="submission",
        subject_id=str(sub.id),
        event="submission.failed",
        actor="worker",
        data={"error": error},
    )


def claim(
    ctx: FlowContext, engine: Engine, ids: Sequence[uuid.UUID], report: FlowReport
) -> list[_Claim]:
    """Mark open submissions as processing, find cached verdicts, fail those past the cap."""
    claims = []
    with session_scope(ctx.db_url) as session:
        found = submissions.lock_many(session, ids)
        report.skipped.extend(set(ids) - {sub.id for sub in found})  # unknown ids
        for sub in found:
            if sub.status in submissions.FINAL:
                report.skipped.append(sub.id)
                continue
            if sub.attempts >= ctx.max_attempts:
                _fail(session, sub.id, f"gave up after {sub.attempts} attempts: {sub.error}")
                report.failed.append(sub.id)
                continue
            submissions.start_attempt(session, sub)
            policy = _policy(ctx.db_url, sub.policy_version)
            model = model_info(engine, policy)
            key = verdict_key(sub.image_sha256, sub.policy_version, model)
            cached = cached_verdict(session, key)
            claims.append(_Claim(sub.id, sub.image_sha256, policy, model, sub.attempts, cached))
    return claims


def _load_images(ctx: FlowContext, claims: list[_Claim], report: FlowReport) -> list[_Claim]:
    """Decode each image; a missing or undecodable blob fails only its submission."""
    loaded, broken = [], []
    for c in claims:
        try:
            c.image = decode_for_model(ctx.blobs.get(c.image_sha256), max_pixels=ctx.max_pixels)
        except (BlobNotFound, ImageRejected) as exc:
            broken.append((c.submission_id, f"image could not be loaded: {exc}"))
            continue
        loaded.append(c)
    if broken:
        with session_scope(ctx.db_url) as session:
            for submission_id, error in broken:
                _fail(session, submission_id, error)
                report.failed.append(submission_id)
    return loaded


def _infer(engine: Engine, claims: list[_Claim], report: FlowReport) -> list[Verdict | str]:
    """One batched model call; if it fails, each image alone, so one bad item fails alone."""
    requests = []
    for c in claims:
        assert c.image is not None, "images are loaded before inference"
        requests.append(ModerationRequest(image=c.image, policy=c.policy))
    try:
        report.model_calls += 1
        return list(engine.moderate_batch(requests))
    except Exception as exc:
        log.exception("model call failed for a batch of %d", len(requests))
        if len(requests) == 1:
            return [f"{type(exc).__name__}: {exc}"]
    results: list[Verdict | str] = []
    for c in claims:
        results.extend(_infer(engine, [c], report))
    return results


def _record(
    ctx: FlowContext, results: list[tuple[_Claim, Verdict | str]], report: FlowReport
) -> None:
    """Write each decision (or the retry/failure) and close its submission, in one transaction."""
    with session_scope(ctx.db_url) as session:
        for c, result in results:
            sub = submissions.lock(session, c.submission_id)
            if sub is None or sub.status in submissions.FINAL:
                report.skipped.append(c.submission_id)
            elif isinstance(result, str) and c.attempts >= ctx.max_attempts:
                _fail(session, c.submission_id, f"model failed {c.attempts} times; last: {result}")
                report.failed.append(c.submission_id)
            elif isinstance(result, str):
                submissions.finish(session, sub, submissions.QUEUED, result)
                report.retry.append(c.submission_id)
            else:
                cached_from = c.cached[0] if c.cached else None
                record_verdict(session, sub, c.policy, result, c.model, cached_from)
                submissions.finish(session, sub, submissions.DECIDED, None)
                (report.cached if cached_from else report.decided).append(c.submission_id)


def moderate_submissions_flow(
    ctx: FlowContext, engine: Engine, ids: Sequence[uuid.UUID]
) -> FlowReport:
    """Decide a batch of submissions: cached verdicts first, the rest in one model call."""
    report = FlowReport()
    claims = claim(ctx, engine, ids, report)
    results: list[tuple[_Claim, Verdict | str]] = [(c, c.cached[1]) for c in claims if c.cached]
    to_model = _load_images(ctx, [c for c in claims if not c.cached], report)
    if to_model:
        results.extend(zip(to_model, _infer(engine, to_model, report), strict=True))
    if results:
        _record(ctx, results, report)
    return report
