"""The audit page: search the trail by submission, actor and date; tenant-scoped users see
only their tenant's rows."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from moderation.audit.search import AuditFilter, search_trail
from moderation.console.auth import ReviewerDep
from moderation.console.params import day, search_of
from moderation.console.render import render
from moderation.web.deps import DbUrlDep

router = APIRouter()
PAGE_SIZE = 50


@router.get("/audit", name="audit")
def audit_page(
    request: Request,
    user: ReviewerDep,
    db_url: DbUrlDep,
    submission: str = Query("", max_length=80),
    actor: str = Query("", max_length=200),
    since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
    page: int = Query(1, ge=1, le=10_000),
) -> Response:
    """Audit events, newest first, PAGE_SIZE a page."""
    form = {"submission": submission, "actor": actor, "since": since, "until": until}
    search = search_of(form)
    page_of = partial(render, request, "audit.html", user, form=form, page=page, search=search)
    try:
        where = AuditFilter(
            tenant_id=user.tenant_id,
            subject_id=submission.strip() or None,
            actor=actor.strip() or None,
            since=day(since),
            until=day(until, end=True),
        )
    except ValueError:
        return page_of(status_code=400, events=[], more=False, error="dates are YYYY-MM-DD")
    found = search_trail(db_url, where, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return page_of(events=found[:PAGE_SIZE], more=len(found) > PAGE_SIZE, error=None)
