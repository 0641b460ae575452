"""The review queue page: filters, counts by reason and one page of items (blurred
thumbnails, age, appeal reason, tenant and category names), and Start reviewing; a
tenant-scoped user sees only their tenant's items (and gets no tenant filter)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, cast

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from moderation.accounts.users import ReviewerSession
from moderation.console import params
from moderation.console.auth import ReviewerDep
from moderation.console.display import display_of
from moderation.console.params import QueueForm, ReviewRun
from moderation.console.render import render
from moderation.review.actions import ACTIONS
from moderation.review.clock import age
from moderation.review.flow import UNDO_WINDOW_S
from moderation.review.policy_names import category_names, filter_choices
from moderation.review.queue import REASONS, QueueFilter, Reason, list_queue
from moderation.storage.db import read_scope
from moderation.web.deps import DbUrlDep, SettingsDep

router = APIRouter()
PAGE_SIZE = 50
RATINGS = ("safe", "unsafe")


def queue_filter(form: QueueForm, user: ReviewerSession) -> QueueFilter:
    """The filter of the form's fields (ValueError for a malformed one or a date range that
    ends before it starts)."""
    try:
        flt = QueueFilter(
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
    if flt.date_from and flt.date_to and flt.date_from >= flt.date_to:
        raise ValueError("the date range ends before it starts: swap From and To")
    return flt


@router.get("/", name="queue")
def queue_page(
    request: Request,
    user: ReviewerDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
    form: Annotated[QueueForm, Query()],
) -> Response:
    """Items needing review, in priority order (appeals, review, sample), PAGE_SIZE a page;
    a page number past the last shows the last page."""
    with read_scope(db_url) as session:
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
            choices=filter_choices(session, params.text(form.policy), user.tenant_id),
            display=display_of(session, user),
            finished="finished" in request.query_params,
            run=ReviewRun.parse(form.search(), "", request.query_params.get("done", "")),
            undo_window_s=UNDO_WINDOW_S,
        )
        try:
            flt = queue_filter(form, user)
        except ValueError as exc:
            empty = dict.fromkeys(REASONS, 0)
            return page_of(status_code=400, items=[], counts=empty, page=1, pages=1, error=str(exc))
        rate = settings.review_sample_rate
        found = list_queue(session, flt, 1, PAGE_SIZE, user.tenant_id, sample_rate=rate)
        page = min(form.page, found.pages)
        if page > 1:
            found = list_queue(session, flt, page, PAGE_SIZE, user.tenant_id, sample_rate=rate)
        hidden = 0
        if found.total == 0 and form.search():  # how many the filters hide
            hidden = list_queue(
                session, QueueFilter(), 1, 1, user.tenant_id, sample_rate=rate
            ).total
        return page_of(
            items=found.items,
            counts=found.counts_by_reason,
            total=found.total,
            page=page,
            pages=found.pages,
            hidden=hidden,
            names=category_names(session, (i.policy_version for i in found.items)),
            age=age,
            error=None,
        )
