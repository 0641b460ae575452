"""The review queue page: filters, counts by reason and one page of items; a tenant-scoped
user sees only their tenant's items (and gets no tenant filter)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, cast

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from moderation.accounts.users import ReviewerSession
from moderation.console import params
from moderation.console.auth import ReviewerDep
from moderation.console.params import QueueForm
from moderation.console.render import render
from moderation.review.actions import ACTIONS
from moderation.review.queue import REASONS, QueueFilter, Reason, list_queue
from moderation.storage.db import read_scope
from moderation.web.deps import DbUrlDep, SettingsDep

router = APIRouter()
PAGE_SIZE = 50
RATINGS = ("safe", "unsafe")


def queue_filter(form: QueueForm, user: ReviewerSession) -> QueueFilter:
    """The filter of the form's fields (ValueError for a malformed one)."""
    try:
        return QueueFilter(
            policy_slug=params.text(form.policy),
            category=params.text(form.category),
            rating=params.one_of(form.rating, RATINGS, "rating"),
            action=params.one_of(form.action, ACTIONS, "action"),
            tenant_id=params.tenant(form.tenant) if user.tenant_id is None else None,
            date_from=params.day(form.date_from),
            date_to=params.day(form.date_to, end=True),
            reason=cast(Reason | None, params.one_of(form.reason, REASONS, "reason")),
        )
    except ValueError as exc:
        raise ValueError(f"{exc} (dates are YYYY-MM-DD, the tenant a UUID)") from exc


@router.get("/", name="queue")
def queue_page(
    request: Request,
    user: ReviewerDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
    form: Annotated[QueueForm, Query()],
) -> Response:
    """Items needing review, in priority order (appeals, review, sample), PAGE_SIZE a page."""
    page = form.page
    page_of = partial(
        render,
        request,
        "queue.html",
        user,
        form=form.fields(),
        search=form.search(),
        reasons=REASONS,
        actions=ACTIONS,
        ratings=RATINGS,
    )
    try:
        flt = queue_filter(form, user)
    except ValueError as exc:
        empty = dict.fromkeys(REASONS, 0)
        return page_of(status_code=400, items=[], counts=empty, page=1, pages=1, error=str(exc))
    with read_scope(db_url) as session:
        found = list_queue(
            session, flt, page, PAGE_SIZE, user.tenant_id, sample_rate=settings.review_sample_rate
        )
    return page_of(
        items=found.items,
        counts=found.counts_by_reason,
        total=found.total,
        page=page,
        pages=found.pages,
        error=None,
    )
