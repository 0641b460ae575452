"""Backtests of drafts against reviewed submissions: start one, follow its progress and report."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from moderation.policies import backtests
from moderation.policies.access import AuthorDep, policy_not_found
from moderation.policies.authoring import get_draft
from moderation.policies.draft_routes import authoring_scope
from moderation.policies.schemas import BacktestIn, BacktestOut, backtest_out
from moderation.web.deps import DbUrlDep, SettingsDep
from moderation.web.errors import ApiError

router = APIRouter()


@router.post(
    "/{slug}/drafts/{draft_id}/backtests",
    status_code=202,
    response_model=BacktestOut,
    summary="Backtest a draft against reviewed submissions",
)
def start_backtest(
    slug: str,
    draft_id: uuid.UUID,
    body: BacktestIn,
    author: AuthorDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
) -> BacktestOut:
    """Queue the draft and the active version over the latest reviewed submissions of ``slug``;
    the reviewer's decision is the ground truth. 422 when nothing was reviewed yet."""
    try:
        with authoring_scope(db_url) as session:
            draft = get_draft(session, author, slug, draft_id)
            images = backtests.reviewed_images(session, slug, body.limit, author.tenant_id)
            run, _ = backtests.start_backtest(
                session, author, draft, images, source="reviews", chunk_size=settings.batch_size
            )
            status = backtests.backtest_status(session, run, draft)
    except backtests.NothingToBacktest as exc:
        raise ApiError(422, "nothing_to_backtest", str(exc)) from exc
    # the outbox relay sends the item messages to the backtest queue once committed
    return backtest_out(status)


@router.get("/{slug}/backtests/{run_id}", response_model=BacktestOut, summary="Progress and report")
def get_backtest(slug: str, run_id: uuid.UUID, author: AuthorDep, db_url: DbUrlDep) -> BacktestOut:
    """Done/total, ETA, and the report over the items finished so far."""
    try:
        with authoring_scope(db_url) as session:
            _, status = backtests.read_backtest(session, author, slug, run_id)
    except backtests.BacktestNotFound as exc:
        raise policy_not_found(f"no backtest '{run_id}' of policy '{slug}'") from exc
    return backtest_out(status)
