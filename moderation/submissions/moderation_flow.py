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
from functools import lru_cache

import PIL.Image
from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.inference.types import Engine, EngineUnavailable, ModerationRequest, Verdict
from moderation.observability import metrics
from moderation.policies import repository as policy_repo
from moderation.policies.catalog import policy_version
from moderation.policies.format import Policy
from moderation.storage.blobs import BlobNotFound, BlobStoreUnavailable
from moderation.storage.db import held_connection, session_scope, statement_scope
from moderation.submissions import repository as submissions
from moderation.submissions.flow_state import Claim, count_decisions
from moderation.submissions.flow_state import FlowContext as FlowContext  # the flow's API
from moderation.submissions.flow_state import FlowReport as FlowReport
from moderation.submissions.frame_verdicts import (
    JudgedFrame,
    cached_frame_verdicts,
    most_severe,
    store_frame_verdicts,
)
from moderation.submissions.frames import select_frames
from moderation.submissions.hash_matching import match_banks, match_frame_banks
from moderation.submissions.images import ImageRejected, decode_for_model
from moderation.submissions.types import FINAL, OPEN, Status
from moderation.submissions.verdicts import (
    ModelInfo,
    VerdictToRecord,
    cached_verdicts,
    record_verdicts,
    verdict_key,
)
from moderation.webhooks.events import MODERATION_DECIDED, MODERATION_FAILED, emit_events, fanout

log = logging.getLogger(__name__)


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
) -> tuple[list[Claim], list[uuid.UUID]]:
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
            claims.append(Claim(ref, policy, models[ref.policy_version]))
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


def _load_images(ctx: FlowContext, claims: list[Claim], report: FlowReport) -> list[Claim]:
    """Decode each image (an animation: its chosen frames); a missing or undecodable blob, or
    an animation over its caps, fails only its submission."""
    loaded, broken = [], []
    for c in claims:
        try:
            data = c.data if c.data is not None else ctx.blobs.get(c.submission.image_sha256)
            c.frames = select_frames(data, max_pixels=ctx.max_pixels, limits=ctx.animation)
            if c.frames is None:
                c.image = decode_for_model(data, max_pixels=ctx.max_pixels)
        except (BlobNotFound, ImageRejected) as exc:
            broken.append((c.submission.id, f"image could not be loaded: {exc}"))
            continue
        loaded.append(c)
    if broken:
        with session_scope(ctx.db_url) as session:
            report.failed.extend(_fail_all(session, broken, "image"))
    return loaded


def _find_frame_verdicts(ctx: FlowContext, claims: list[Claim]) -> None:
    """Key each chosen frame and find the verdicts the frame cache holds (one read)."""
    animated = [c for c in claims if c.frames]
    if not animated:
        return
    for c in animated:
        c.frame_keys = [
            verdict_key(c.submission, c.model, ctx.verdict_cache_scope, f.sha256)
            for f in c.frames or []
        ]
    with statement_scope(ctx.db_url) as session:
        cached = cached_frame_verdicts(session, [k for c in animated for k in c.frame_keys])
    for c in animated:
        c.frame_cached = {k: cached[k] for k in c.frame_keys if k in cached}


def _requests(c: Claim) -> list[ModerationRequest]:
    """What the model judges for a claim: its image, or its frames the cache lacks."""
    rubric = c.policy.rubric()
    if c.frames is None:
        assert c.image is not None, "images are loaded before inference"
        return [ModerationRequest(image=c.image, rubric=rubric)]
    keyed = zip(c.frames, c.frame_keys, strict=True)
    return [ModerationRequest(f.image, rubric) for f, k in keyed if k not in c.frame_cached]


def _infer(engine: Engine, claims: list[Claim], report: FlowReport) -> list[list[Verdict] | str]:
    """One batched model call for every image and frame; if it fails, each claim alone, so
    one bad item fails alone. Per claim: its verdicts in request order, or the error."""
    groups = [_requests(c) for c in claims]
    requests = [r for group in groups for r in group]
    if not requests:  # every frame was cached
        return [[] for _ in claims]
    started = time.perf_counter()
    try:
        report.model_calls += 1
        metrics.MODEL_CALLS.inc()
        metrics.INFERENCE_BATCH_SIZE.observe(len(requests))
        verdicts = iter(engine.moderate_batch(requests))
        return [[next(verdicts) for _ in group] for group in groups]
    except EngineUnavailable:
        raise  # not the images' fault: the caller gives the batch back
    except Exception as exc:
        log.exception("model call failed for a batch of %d", len(requests))
        if len(claims) == 1:
            return [f"{type(exc).__name__}: {exc}"]
    finally:
        elapsed = time.perf_counter() - started
        report.model_ms += elapsed * 1000
        metrics.INFERENCE_SECONDS.observe(elapsed)
    results: list[list[Verdict] | str] = []
    for c in claims:
        results.extend(_infer(engine, [c], report))
    return results


def _judgement(c: Claim, result: list[Verdict] | str) -> Verdict | str:
    """A claim's verdict from the model's answer: a still image's own; an animation's most
    severe frame (cached frames and those judged now), its frames listed on the claim."""
    if isinstance(result, str) or c.frames is None:
        return result if isinstance(result, str) else result[0]
    judged, fresh = [], iter(result)
    for frame, key in zip(c.frames, c.frame_keys, strict=True):
        cached = c.frame_cached.get(key)
        verdict = cached if cached is not None else next(fresh)
        if cached is None:
            c.frame_verdicts[key] = verdict
        judged.append(JudgedFrame(frame.index, frame.offset_ms, verdict, cached is not None))
    worst, c.frames_listed = most_severe(c.policy, judged)
    return worst


def _release_or_fail(
    ctx: FlowContext, session: Session, failed: list[tuple[Claim, str]], report: FlowReport
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
    ctx: FlowContext, results: list[tuple[Claim, Verdict | str]], report: FlowReport
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
            cached=c.from_cache,
            cached_from=c.cached.source_for(c.submission.tenant_id) if c.cached else None,
            key=c.key,
            frames=c.cached.frames if c.cached else c.frames_listed,
        )
        for c, r in results
        if not isinstance(r, str)
    }
    with statement_scope(ctx.db_url) as session:
        store_frame_verdicts(
            session, {k: v for c, _ in results for k, v in c.frame_verdicts.items()}
        )
        written = record_verdicts(session, list(to_record.values()), fanout(MODERATION_DECIDED))
    count_decisions(
        [(i.submission, "cache" if i.cached else "model") for i in to_record.values()], written
    )
    for sid, item in to_record.items():
        if sid not in written:
            report.skipped.append(sid)  # closed meanwhile by another delivery or the sweeper
        else:
            (report.cached if item.cached else report.decided).append(sid)


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
        claims = match_banks(ctx, claims, report)
        to_model = _load_images(ctx, [c for c in claims if not c.cached], report)
    except BlobStoreUnavailable as exc:  # not the images' fault: nothing decided, no attempt
        _give_back(ctx, claims, report, f"blob store unavailable: {exc}")
        return suspects
    to_model = match_frame_banks(ctx, to_model, report)
    _find_frame_verdicts(ctx, to_model)
    results: list[tuple[Claim, Verdict | str]] = [(c, c.cached.verdict) for c in claims if c.cached]
    if to_model:
        try:
            answers = _infer(engine, to_model, report)
            results.extend((c, _judgement(c, a)) for c, a in zip(to_model, answers, strict=True))
        except EngineUnavailable as exc:
            metrics.ENGINE_UP.labels(engine.model_id).set(0)
            _give_back(ctx, to_model, report, f"engine unavailable: {exc}")
    if results:
        _record(ctx, results, report)
    return suspects


def _give_back(ctx: FlowContext, claims: list[Claim], report: FlowReport, why: str) -> None:
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
