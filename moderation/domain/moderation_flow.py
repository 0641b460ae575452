"""The worker's flow: claim submissions, run the model on them as one batch, record decisions."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL.Image import Image

from moderation.domain.images import ImageRejected, decode_for_model
from moderation.domain.policies import Policy
from moderation.domain.policy_catalog import policy_version
from moderation.domain.verdicts import ModelInfo, record_verdict
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
    failed: list[uuid.UUID] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)
    retry: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True)
class _Claim:
    submission_id: uuid.UUID
    image_sha256: str
    policy: Policy
    attempts: int


def _fail(ctx: FlowContext, submission_id: uuid.UUID, error: str) -> None:
    """Move a submission to ``failed`` with its error, and audit it."""
    with session_scope(ctx.db_url) as session:
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


def claim(ctx: FlowContext, ids: Sequence[uuid.UUID], report: FlowReport) -> list[_Claim]:
    """Mark the submissions still open as processing; give up on those past the attempt cap."""
    claims, exhausted = [], []
    with session_scope(ctx.db_url) as session:
        for submission_id in ids:
            sub = submissions.lock(session, submission_id)
            if sub is None or sub.status in submissions.FINAL:
                report.skipped.append(submission_id)
                continue
            if sub.attempts >= ctx.max_attempts:
                exhausted.append((sub.id, sub.error))
                continue
            submissions.start_attempt(session, sub)
            policy = policy_version(session, sub.policy_version)
            claims.append(_Claim(sub.id, sub.image_sha256, policy, sub.attempts))
    for submission_id, last_error in exhausted:
        _fail(ctx, submission_id, f"gave up after {ctx.max_attempts} attempts: {last_error}")
        report.failed.append(submission_id)
    return claims


def _load_images(
    ctx: FlowContext, claims: list[_Claim], report: FlowReport
) -> list[tuple[_Claim, Image]]:
    """Decode each claimed image; a missing or undecodable blob fails only its submission."""
    loaded = []
    for c in claims:
        try:
            image = decode_for_model(ctx.blobs.get(c.image_sha256), max_pixels=ctx.max_pixels)
        except (BlobNotFound, ImageRejected) as exc:
            _fail(ctx, c.submission_id, f"image could not be loaded: {exc}")
            report.failed.append(c.submission_id)
            continue
        loaded.append((c, image))
    return loaded


def _release_for_retry(
    ctx: FlowContext, claims: list[_Claim], error: str, report: FlowReport
) -> None:
    """After a model failure: back to queued for another attempt, or failed at the cap."""
    for c in claims:
        if c.attempts >= ctx.max_attempts:
            _fail(ctx, c.submission_id, f"model failed {c.attempts} times; last: {error}")
            report.failed.append(c.submission_id)
            continue
        with session_scope(ctx.db_url) as session:
            sub = submissions.lock(session, c.submission_id)
            if sub is not None and sub.status == submissions.PROCESSING:
                submissions.finish(session, sub, submissions.QUEUED, error)
        report.retry.append(c.submission_id)


def _record(
    ctx: FlowContext,
    engine: Engine,
    claims: list[_Claim],
    verdicts: list[Verdict],
    report: FlowReport,
) -> None:
    """Write each verdict's decision and close its submission, in one transaction."""
    with session_scope(ctx.db_url) as session:
        for c, verdict in zip(claims, verdicts, strict=True):
            sub = submissions.lock(session, c.submission_id)
            if sub is None or sub.status in submissions.FINAL:
                report.skipped.append(c.submission_id)
                continue
            model = ModelInfo(engine.model_id, engine.revision, engine.decoding_params(c.policy))
            record_verdict(session, sub, c.policy, verdict, model)
            submissions.finish(session, sub, submissions.DECIDED, None)
            report.decided.append(c.submission_id)


def moderate_submissions_flow(
    ctx: FlowContext, engine: Engine, ids: Sequence[uuid.UUID]
) -> FlowReport:
    """Decide a batch of submissions; safe to run again for the same ids (redelivery)."""
    report = FlowReport()
    loaded = _load_images(ctx, claim(ctx, ids, report), report)
    if not loaded:
        return report
    requests = [ModerationRequest(image=image, policy=c.policy) for c, image in loaded]
    try:
        verdicts = engine.moderate_batch(requests)
    except Exception as exc:
        log.exception("model call failed for %d submissions", len(loaded))
        _release_for_retry(ctx, [c for c, _ in loaded], f"{type(exc).__name__}: {exc}", report)
        return report
    _record(ctx, engine, [c for c, _ in loaded], verdicts, report)
    return report
