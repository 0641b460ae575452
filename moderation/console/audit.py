"""The audit page: search the trail by submission, actor and date; tenant-scoped users see
only their tenant's rows."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from moderation.audit.search import AuditFilter, search_trail
from moderation.console.auth import ReviewerDep
from moderation.console.params import AuditForm, day, text
from moderation.console.render import render
from moderation.web.deps import DbUrlDep

router = APIRouter()
PAGE_SIZE = 50


@router.get("/audit", name="audit")
def audit_page(
    request: Request,
    user: ReviewerDep,
    db_url: DbUrlDep,
    form: Annotated[AuditForm, Query()],
) -> Response:
    """Audit events, newest first, PAGE_SIZE a page."""
    page = form.page
    page_of = partial(
        render, request, "audit.html", user, form=form.fields(), page=page, search=form.search()
    )
    try:
        where = AuditFilter(
            tenant_id=user.tenant_id,
            subject_id=text(form.submission),
            actor=text(form.actor),
            since=day(form.since),
            until=day(form.until, end=True),
        )
    except ValueError:
        return page_of(status_code=400, events=[], more=False, error="dates are YYYY-MM-DD")
    found = search_trail(db_url, where, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return page_of(events=found[:PAGE_SIZE], more=len(found) > PAGE_SIZE, error=None)
