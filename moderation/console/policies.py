"""Policy pages for policy authors: policies and their versions, a diff of two versions, the
viewer's tenant's drafts with "start backtest", and a backtest's progress and report.
Drafts themselves are written through the API or CLI."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from moderation.accounts.users import ReviewerSession
from moderation.console.auth import PolicyAuthorDep
from moderation.console.render import error_page, render
from moderation.policies import backtests
from moderation.policies.authoring import (
    Author,
    DraftNotFound,
    diff_versions,
    get_draft,
)
from moderation.policies.reading import all_policies, authors_work, policy_versions, version_of
from moderation.storage.db import read_scope, session_scope
from moderation.web.deps import DbUrlDep, SettingsDep

router = APIRouter(prefix="/policies")
BACKTEST_LIMIT = 500  # latest reviewed submissions a console backtest measures


def _author(user: ReviewerSession) -> Author:
    return Author(user.tenant_id, f"user:{user.email}")


def _policy_page(
    request: Request,
    user: ReviewerSession,
    session: Session,
    slug: str,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    found = policy_versions(session, slug)
    if found is None:
        return error_page(request, user, 404, f"no policy '{slug}'")
    work = authors_work(session, slug, user.tenant_id)
    context: dict[str, Any] = {"diff": None, "error": None, "a": "", "b": ""} | extra
    return render(
        request,
        "policy.html",
        user,
        status_code,
        slug=slug,
        active=found.policy.active_version,
        versions=found.versions,
        drafts=work.drafts,
        runs=work.runs,
        **context,
    )


@router.get("", name="policies")
def policies_page(request: Request, user: PolicyAuthorDep, db_url: DbUrlDep) -> Response:
    """Every policy, its active version and all its versions."""
    rows = [(p.policy, p.active, p.versions) for p in all_policies(db_url)]
    return render(request, "policies.html", user, rows=rows)


@router.get("/{slug}", name="policy")
def policy_page(request: Request, slug: str, user: PolicyAuthorDep, db_url: DbUrlDep) -> Response:
    """A policy's versions, drafts and backtests."""
    with read_scope(db_url) as session:
        return _policy_page(request, user, session, slug)


@router.get("/{slug}/diff", name="policy_diff")
def policy_diff(
    request: Request,
    slug: str,
    user: PolicyAuthorDep,
    db_url: DbUrlDep,
    a: str = Query(max_length=80),
    b: str = Query(max_length=80),
) -> Response:
    """A unified diff of versions ``a`` and ``b`` of the policy."""
    with read_scope(db_url) as session:
        found = [version_of(session, slug, v) for v in (a, b)]
        if any(v is None for v in found):
            message = f"both versions must be versions of '{slug}'"
            return _policy_page(request, user, session, slug, 404, error=message, a=a, b=b)
        before, after = (v for v in found if v is not None)
        diff = diff_versions(before, after)
        return _policy_page(request, user, session, slug, diff=diff, a=a, b=b)


@router.post("/{slug}/drafts/{draft_id}/backtests", name="start_backtest")
def start_backtest(
    request: Request,
    slug: str,
    draft_id: uuid.UUID,
    user: PolicyAuthorDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
) -> Response:
    """Backtest a draft over the latest reviewed submissions (the viewer's tenant's, if
    scoped); then the report page."""
    author = _author(user)
    try:
        with session_scope(db_url) as session:
            draft = get_draft(session, author, slug, draft_id)
            images = backtests.reviewed_images(session, slug, BACKTEST_LIMIT, user.tenant_id)
            run, _ = backtests.start_backtest(
                session, author, draft, images, source="reviews", chunk_size=settings.batch_size
            )
            run_id = run.id
    except DraftNotFound:
        return error_page(request, user, 404, f"no draft '{draft_id}' of '{slug}'")
    except backtests.NothingToBacktest as exc:
        with read_scope(db_url) as session:
            return _policy_page(request, user, session, slug, 422, error=str(exc))
    target = request.url_for("backtest", slug=slug, run_id=run_id).path
    return RedirectResponse(target, status_code=303)


@router.get("/{slug}/backtests/{run_id}", name="backtest")
def backtest_page(
    request: Request, slug: str, run_id: uuid.UUID, user: PolicyAuthorDep, db_url: DbUrlDep
) -> Response:
    """A backtest's progress and its report so far (reading it is audited, as in the API)."""
    author = _author(user)
    try:
        with session_scope(db_url) as session:
            draft, status = backtests.read_backtest(session, author, slug, run_id)
            return render(request, "backtest.html", user, slug=slug, draft=draft, status=status)
    except (backtests.BacktestNotFound, DraftNotFound):
        return error_page(request, user, 404, f"no backtest '{run_id}' of '{slug}'")
