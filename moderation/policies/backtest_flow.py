"""The backtest worker's flow: judge items under the draft and the baseline version through the
same engine, prompt, decoding, scores and thresholds as live moderation; store the results on
the items only (no decision, no submission is touched). Safe to run again for the same ids."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from PIL.Image import Image

from moderation.inference.types import Engine, EngineUnavailable, ModerationRequest, Verdict
from moderation.policies import backtest_repository as backtests
from moderation.policies import draft_repository as policy_drafts
from moderation.policies.authoring import draft_policy
from moderation.policies.format import Policy
from moderation.policies.models import BacktestItem
from moderation.storage.blobs import BlobNotFound
from moderation.storage.db import session_scope
from moderation.submissions.flow_state import FlowContext
from moderation.submissions.images import ImageRejected, decode_for_model
from moderation.submissions.moderation_flow import cached_policy_version
from moderation.submissions.verdicts import decide

log = logging.getLogger(__name__)


@dataclass
class _Job:
    item_id: int
    image_sha256: str
    policies: list[Policy]  # the draft, then the baseline when there is one
    image: Image | None = None


@lru_cache(maxsize=64)
def _run_policies(db_url: str, run_id: uuid.UUID) -> tuple[Policy, ...]:
    """A run's draft and baseline rubrics (both immutable), read once per process."""
    with session_scope(db_url) as session:
        run = backtests.get_run(session, run_id)
        assert run is not None, "items reference their run"
        draft = policy_drafts.get(session, run.draft_id)
        assert draft is not None, "runs reference their draft"
        policies = [draft_policy(draft)]
    if run.baseline_version is not None:
        policies.append(cached_policy_version(db_url, run.baseline_version))
    return tuple(policies)


def _result(policy: Policy, verdict: Verdict) -> dict[str, Any]:
    outcome = decide(policy, verdict.scores.unsafe, verdict.scores.categories)
    return {**asdict(outcome), "unsafe": verdict.scores.unsafe, "rationale": verdict.rationale}


def _judge(engine: Engine, jobs: list[_Job]) -> dict[int, list[dict[str, Any]] | str]:
    """One batched model call over every (image, policy) pair; an error fails the chunk."""
    requests = [
        ModerationRequest(job.image, policy.rubric())
        for job in jobs
        if job.image is not None
        for policy in job.policies
    ]
    try:
        verdicts = iter(engine.moderate_batch(requests))
    except EngineUnavailable:
        raise  # nothing is recorded: the task tries the chunk again later
    except Exception as exc:
        log.exception("backtest model call failed for %d items", len(jobs))
        return {job.item_id: f"{type(exc).__name__}: {exc}" for job in jobs}
    return {job.item_id: [_result(p, next(verdicts)) for p in job.policies] for job in jobs}


def _job(ctx: FlowContext, item: BacktestItem) -> _Job:
    return _Job(item.id, item.image_sha256, list(_run_policies(ctx.db_url, item.run_id)))


def run_backtest_items_flow(ctx: FlowContext, engine: Engine, item_ids: Sequence[int]) -> int:
    """Judge the open items among ``item_ids`` and store their results; returns how many.
    ``EngineUnavailable`` (nothing recorded) when the engine cannot judge now."""
    engine.ready()
    with session_scope(ctx.db_url) as session:
        jobs = [_job(ctx, item) for item in backtests.open_items(session, list(item_ids))]
    results: dict[int, list[dict[str, Any]] | str] = {}
    for job in jobs:
        try:
            job.image = decode_for_model(ctx.blobs.get(job.image_sha256), max_pixels=ctx.max_pixels)
        except (BlobNotFound, ImageRejected) as exc:
            results[job.item_id] = f"image could not be loaded: {exc}"
    loaded = [job for job in jobs if job.image is not None]
    if loaded:
        results.update(_judge(engine, loaded))
    with session_scope(ctx.db_url) as session:
        for item_id, result in results.items():
            if isinstance(result, str):
                backtests.record_result(session, item_id, draft=None, baseline=None, error=result)
            else:
                baseline = result[1] if len(result) > 1 else None
                backtests.record_result(session, item_id, draft=result[0], baseline=baseline)
    return len(results)
