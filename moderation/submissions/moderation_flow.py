"""The worker's flow: claim submissions, reuse cached verdicts, run the model on the rest as one
batch, record decisions. Safe to run again for the same ids (redelivery).

A worker holds each submission it works on (an advisory lock of its database session, which
Postgres drops when the process dies): a duplicate message (a sweeper re-enqueue, a retry, a
relay resend, a broker redelivery) for a submission another live worker holds is skipped, so
it neither runs the model again nor uses an attempt nor gives up on a live attempt.

A submission that arrives already ``processing`` and is held by nobody was claimed before by
a process that died (a crash, an out-of-memory kill, a restart). Such suspects are run one at
a time after the batch, each claimed only when its turn comes, so an image that kills the
worker uses up its own attempts and no batch-mate's: the innocent ones are decided, the
poison one fails at the attempt cap.

Final statuses are written by conditional updates (see ``submissions.finish``): whatever
arrives late, a decided submission stays decided."""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

import PIL.Image
from PIL.Image import Image
from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.banks.matching import bank_index, hashes_of, match_image
from moderation.inference.types import Engine, EngineUnavailable, ModerationRequest, Verdict
from moderation.observability import metrics
from moderation.policies import repository as policy_repo
from moderation.policies.catalog import policy_version
from moderation.policies.format import Policy
from moderation.storage.blobs import BlobNotFound, BlobStore, BlobStoreUnavailable
from moderation.storage.db import held_connection, session_scope, statement_scope
from moderation.submissions import repository as submissions
from moderation.submissions.hash_decisions import HashMatch, record_hash_matches
from moderation.submissions.images import ImageRejected, decode_for_model
from moderation.submissions.types import FINAL, OPEN, Status, SubmissionRef
from moderation.submissions.verdicts import (
    CachedVerdict,
    ModelInfo,
    VerdictToRecord,
    cached_verdicts,
    record_verdicts,
    verdict_key,
)
from moderation.webhooks.events import MODERATION_DECIDED, MODERATION_FAILED, emit_events, fanout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowContext:
    """What the flow needs from its process: the database, the blobs and the limits."""

    db_url: str
    blobs: BlobStore
    max_pixels: int
    max_attempts: int
    verdict_cache_scope: str = "tenant"  # whose verdicts the cache reuses: see verdict_key


@dataclass
class FlowReport:
    """What happened to each submission id handed to the flow."""

    decided: list[uuid.UUID] = field(default_factory=list)
    cached: list[uuid.UUID] = field(default_factory=list)
    hash_matched: list[uuid.UUID] = field(default_factory=list)  # decided by a bank entry
    failed: list[uuid.UUID] = field(default_factory=list)
    skipped: list[uuid.UUID] = field(default_factory=list)
    retry: list[uuid.UUID] = field(default_factory=list)
    isolated: list[uuid.UUID] = field(default_factory=list)  # suspects, run one at a time
    unavailable: list[uuid.UUID] = field(default_factory=list)  # the engine could not judge now
    model_calls: int = 0
    model_ms: float = 0.0  # time inside the engine
    flow_ms: float = 0.0  # the whole flow: model_ms plus rows, blobs, images, decisions


@dataclass
class _Claim:
    submission: SubmissionRef  # attempts include this one
    policy: Policy
    model: ModelInfo
    key: str = ""  # its verdict key
    cached: CachedVerdict | None = None
    data: bytes | None = None  # the image file, once read
    image: Image | None = None


def model_info(engine: Engine, policy: Policy) -> ModelInfo:
    """The provenance ``engine`` gives verdicts under ``policy``."""
    return ModelInfo(engine.model_id, engine.revision, engine.decoding_params(policy.rubric()))


@lru_cache(maxsize=256)
def cached_policy_version(db_url: str, version: str) -> Policy:
    """Versions are immutable, so each is read and validated once per process."""
    with session_scope(db_url) as session:
        return policy_version(session, version)


def _fail_all(
    session: Session, failures: Sequence[tuple[uuid.UUID, str]], reason: str
) -> list[uuid.UUID]:
    """Move each open submission to ``failed`` with its error, audit it and emit the webhook
    event; the ones failed now (a final one is left alone), counted under ``reason``. Rows
    are locked first, then the tenants' chain heads (see ``audit.lock_chains``)."""
    subs = submissions.lock_many(session, [sid for sid, _ in failures])
    audit.lock_chains(session, (sub.tenant_id for sub in subs.values()))
    failed = []
    for sid, error in failures:
        sub = subs.get(sid)
        if sub is None or not submissions.finish(session, sid, Status.FAILED, error):
            continue
        audit.append(
            session,
            tenant_id=sub.tenant_id,
            subject_type="submission",
            subject_id=str(sid),
            event="submission.failed",
            actor="worker",
            data={"error": error},
        )
        failed.append(sid)
    emit_events(session, MODERATION_FAILED, failed)
    if failed:
        metrics.FAILED.labels(reason).inc(len(failed))
    return failed


def _classify_unclaimed(
    session: Session, ids: Sequence[uuid.UUID], report: FlowReport, max_attempts: int
) -> list[uuid.UUID]:
    """Ids not claimed (all held by this worker): already final or unknown (skipped), past the
    attempt cap (failed: every attempt's worker died), or suspects (``processing`` under the
    cap, returned)."""
    found = {sub.id: sub for sub in submissions.get_many(session, list(ids))}
    suspects, gave_up = [], []
    for sid in ids:
        sub = found.get(sid)
        if sub is None or sub.status in FINAL:
            report.skipped.append(sid)
        elif sub.attempts < max_attempts:
            suspects.append(sid)
        else:
            last = sub.error or "the worker stopped during each (a crash, a kill or a restart)"
            gave_up.append((sid, f"gave up after {sub.attempts} attempts: {last}"))
    report.failed.extend(_fail_all(session, gave_up, "gave_up"))
    return suspects


def claim(
    ctx: FlowContext,
    engine: Engine,
    ids: Sequence[uuid.UUID],
    report: FlowReport,
    statuses: Sequence[str] = (Status.QUEUED,),
) -> tuple[list[_Claim], list[uuid.UUID]]:
    """Mark the submissions in one of ``statuses`` as processing, find cached verdicts, fail
    those past the cap; also the suspects left unclaimed (see the module's doc).

    The claim is one statement and the cache lookup one read, so both run in autocommit:
    two round trips for the whole batch."""
    models: dict[str, ModelInfo] = {}  # per policy version: decoding params are not free
    claims = []
    with statement_scope(ctx.db_url) as session:
        for ref in submissions.start_attempts(session, ids, ctx.max_attempts, statuses):
            policy = cached_policy_version(ctx.db_url, ref.policy_version)
            if ref.policy_version not in models:
                models[ref.policy_version] = model_info(engine, policy)
            claims.append(_Claim(ref, policy, models[ref.policy_version]))
        for c in claims:
            c.key = verdict_key(c.submission, c.model, ctx.verdict_cache_scope)
        cached = cached_verdicts(session, [c.key for c in claims])
    for c in claims:
        c.cached = cached.get(c.key)
    claimed = {c.submission.id for c in claims}
    unclaimed = [sid for sid in ids if sid not in claimed]
    suspects = []
    if unclaimed:
        with session_scope(ctx.db_url) as session:
            suspects = _classify_unclaimed(session, unclaimed, report, ctx.max_attempts)
    return claims, suspects


def _load_images(ctx: FlowContext, claims: list[_Claim], report: FlowReport) -> list[_Claim]:
    """Decode each image; a missing or undecodable blob fails only its submission."""
    loaded, broken = [], []
    for c in claims:
        try:
            data = c.data if c.data is not None else ctx.blobs.get(c.submission.image_sha256)
            c.image = decode_for_model(data, max_pixels=ctx.max_pixels)
        except (BlobNotFound, ImageRejected) as exc:
            broken.append((c.submission.id, f"image could not be loaded: {exc}"))
            continue
        loaded.append(c)
    if broken:
        with session_scope(ctx.db_url) as session:
            report.failed.extend(_fail_all(session, broken, "image"))
    return loaded


def _match_banks(ctx: FlowContext, claims: list[_Claim], report: FlowReport) -> list[_Claim]:
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
    index = bank_index(ctx.db_url)
    matches: dict[uuid.UUID, HashMatch] = {}
    with statement_scope(ctx.db_url) as session:
        hashes = hashes_of(session, images)
        index.refresh(session)
        for c in claims:
            found = hashes.get(c.submission.image_sha256)
            if found is None:
                continue
            hit = match_image(session, index, c.submission.tenant_id, found)
            if hit is not None:
                ms = (time.perf_counter() - started) * 1000
                matches[c.submission.id] = HashMatch(c.submission, c.policy, hit, ms)
        if matches:
            written = record_hash_matches(
                session, list(matches.values()), fanout(MODERATION_DECIDED)
            )
            _count_decisions([m.submission for m in matches.values()], written, "hash_match")
            report.hash_matched.extend(sid for sid in matches if sid in written)
            report.skipped.extend(sid for sid in matches if sid not in written)
    return [c for c in claims if c.submission.id not in matches]


def _infer(engine: Engine, claims: list[_Claim], report: FlowReport) -> list[Verdict | str]:
    """One batched model call; if it fails, each image alone, so one bad item fails alone."""
    requests = []
    for c in claims:
        assert c.image is not None, "images are loaded before inference"
        requests.append(ModerationRequest(image=c.image, rubric=c.policy.rubric()))
    started = time.perf_counter()
    try:
        report.model_calls += 1
        metrics.MODEL_CALLS.inc()
        metrics.INFERENCE_BATCH_SIZE.observe(len(requests))
        return list(engine.moderate_batch(requests))
    except EngineUnavailable:
        raise  # not the images' fault: the caller gives the batch back
    except Exception as exc:
        log.exception("model call failed for a batch of %d", len(requests))
        if len(requests) == 1:
            return [f"{type(exc).__name__}: {exc}"]
    finally:
        elapsed = time.perf_counter() - started
        report.model_ms += elapsed * 1000
        metrics.INFERENCE_SECONDS.observe(elapsed)
    results: list[Verdict | str] = []
    for c in claims:
        results.extend(_infer(engine, [c], report))
    return results


def _release_or_fail(
    ctx: FlowContext, session: Session, failed: list[tuple[_Claim, str]], report: FlowReport
) -> None:
    """After model failures: back to queued for a retry, or failed at the attempt cap (the
    releases first: row locks before chain heads)."""
    at_cap = []
    for c, error in failed:
        sid, attempts = c.submission.id, c.submission.attempts
        if attempts >= ctx.max_attempts:
            at_cap.append((sid, f"model failed {attempts} times; last: {error}"))
        elif submissions.finish(session, sid, Status.QUEUED, error):
            report.retry.append(sid)
    report.failed.extend(_fail_all(session, at_cap, "model"))


def _record(
    ctx: FlowContext, results: list[tuple[_Claim, Verdict | str]], report: FlowReport
) -> None:
    """Write the retries/failures, then the decisions with their audit events and
    ``moderation.decided`` webhook messages (one statement, in autocommit)."""
    failures = [(c, r) for c, r in results if isinstance(r, str)]
    if failures:
        with session_scope(ctx.db_url) as session:
            _release_or_fail(ctx, session, failures, report)
    to_record = {
        c.submission.id: VerdictToRecord(
            c.submission,
            c.policy,
            r,
            c.model,
            cached=c.cached is not None,
            cached_from=c.cached.source_for(c.submission.tenant_id) if c.cached else None,
            key=c.key,
        )
        for c, r in results
        if not isinstance(r, str)
    }
    with statement_scope(ctx.db_url) as session:
        written = record_verdicts(session, list(to_record.values()), fanout(MODERATION_DECIDED))
    for cached in (False, True):
        refs = [i.submission for i in to_record.values() if i.cached == cached]
        _count_decisions(refs, written, "cache" if cached else "model")
    for sid, item in to_record.items():
        if sid not in written:
            report.skipped.append(sid)  # closed meanwhile by another delivery or the sweeper
        else:
            (report.cached if item.cached else report.decided).append(sid)


def _count_decisions(
    refs: Sequence[SubmissionRef], written: dict[uuid.UUID, str], source: str
) -> None:
    """Count the decisions written now, and the time from each upload to its decision."""
    now = datetime.now(UTC)
    for ref in refs:
        action = written.get(ref.id)
        if action is None:
            continue
        metrics.DECISIONS.labels(action, source).inc()
        if ref.created_at is not None:
            metrics.DECISION_LATENCY.observe(max(0.0, (now - ref.created_at).total_seconds()))


def warm_up_flow(ctx: FlowContext, engine: Engine) -> None:
    """Do once at start what the first batch would otherwise pay for: open the connection
    pools, compile the flow's statements, read the active policy versions and their decoding
    parameters. Writes nothing."""
    with statement_scope(ctx.db_url) as session:
        versions = [v.version for _, v in policy_repo.list_active(session)]
        submissions.start_attempts(session, [uuid.uuid4()], ctx.max_attempts)
        cached_verdicts(session, ["0" * 64])
        record_verdicts(session, [], fanout(MODERATION_DECIDED))
    for version in versions:
        model_info(engine, cached_policy_version(ctx.db_url, version))
    for fmt in ("PNG", "JPEG"):  # Pillow loads its codecs on first use
        buffer = io.BytesIO()
        PIL.Image.new("RGB", (8, 8)).save(buffer, format=fmt)
        decode_for_model(buffer.getvalue(), max_pixels=ctx.max_pixels)


def _decide(
    ctx: FlowContext,
    engine: Engine,
    ids: Sequence[uuid.UUID],
    report: FlowReport,
    statuses: Sequence[str],
) -> list[uuid.UUID]:
    """Claim, decide bank matches, reuse cached verdicts, one model call for the rest,
    record; the suspects."""
    claims, suspects = claim(ctx, engine, ids, report, statuses)
    try:
        claims = _match_banks(ctx, claims, report)
        to_model = _load_images(ctx, [c for c in claims if not c.cached], report)
    except BlobStoreUnavailable as exc:  # not the images' fault: nothing decided, no attempt
        _give_back(ctx, claims, report, f"blob store unavailable: {exc}")
        return suspects
    results: list[tuple[_Claim, Verdict | str]] = [
        (c, c.cached.verdict) for c in claims if c.cached
    ]
    if to_model:
        try:
            results.extend(zip(to_model, _infer(engine, to_model, report), strict=True))
        except EngineUnavailable as exc:
            metrics.ENGINE_UP.labels(engine.model_id).set(0)
            _give_back(ctx, to_model, report, f"engine unavailable: {exc}")
    if results:
        _record(ctx, results, report)
    return suspects


def _give_back(ctx: FlowContext, claims: list[_Claim], report: FlowReport, why: str) -> None:
    """Queue ``claims`` again without using up an attempt (the caller sends them again)."""
    log.warning("%s; %d submissions go back", why, len(claims))
    with statement_scope(ctx.db_url) as session:
        ids = [c.submission.id for c in claims]
        report.unavailable.extend(submissions.give_back(session, ids))


def moderate_submissions_flow(
    ctx: FlowContext, engine: Engine, ids: Sequence[uuid.UUID]
) -> FlowReport:
    """Decide a batch of submissions: bank matches and cached verdicts first, the rest in one
    model call; then
    each suspect alone."""
    started = time.perf_counter()
    report = FlowReport()
    try:
        engine.ready()
    except EngineUnavailable as exc:
        log.warning("engine unavailable; %d submissions wait: %s", len(ids), exc)
        metrics.ENGINE_UP.labels(engine.model_id).set(0)
        report.unavailable.extend(ids)
        return report
    metrics.ENGINE_UP.labels(engine.model_id).set(1)
    with held_connection(ctx.db_url) as holder:
        try:
            held = submissions.hold(holder, ids)
            report.skipped.extend(sid for sid in ids if sid not in held)  # live elsewhere
            suspects = _decide(ctx, engine, held, report, (Status.QUEUED,))
            if suspects:
                log.warning(
                    "%d of %d submissions were claimed before and never finished; running "
                    "them one at a time",
                    len(suspects),
                    len(ids),
                )
            for sid in suspects:
                report.isolated.append(sid)
                _decide(ctx, engine, [sid], report, OPEN)
        finally:
            submissions.release_holds(holder)
    report.flow_ms = (time.perf_counter() - started) * 1000
    return report
