"""A reviewer's run through the queue: Start reviewing claims the first free item of the
queue's filters; deciding, skipping and undoing each lead straight to the next item (one page
load a decision). The run's filters and skipped items ride along in the item pages' URLs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from moderation.accounts.users import ReviewerSession
from moderation.config import Settings
from moderation.console.auth import ReviewerDep
from moderation.console.item import RunField, act, item_url
from moderation.console.params import ReviewRun
from moderation.console.queue import queue_filter
from moderation.review.actions import Judgement, Notes, decide
from moderation.review.flow import claim_next, undo_review
from moderation.review.queue import ItemNotFound, release_item
from moderation.storage.db import session_scope
from moderation.web.deps import DbUrlDep, SettingsDep

router = APIRouter()
Text = Annotated[str, Form(max_length=4000)]


def open_next(
    request: Request,
    user: ReviewerSession,
    db_url: str,
    settings: Settings,
    run: ReviewRun,
    done: uuid.UUID | None = None,
) -> Response:
    """Claim the run's next free item and open it (303); the queue when none is left."""
    queue = request.url_for("queue").path
    try:
        flt = queue_filter(run.form, user)
    except ValueError:
        return RedirectResponse(f"{queue}?{run.search}", status_code=303)
    with session_scope(db_url) as session:
        found = claim_next(
            session,
            flt,
            user.email,
            user.tenant_id,
            sample_rate=settings.review_sample_rate,
            ttl_s=settings.review_claim_ttl_s,
            skip=run.skipped,
        )
    if found is None:
        tail = f"&done={done}" if done else ""
        return RedirectResponse(f"{queue}?{run.search}&finished=1{tail}", status_code=303)
    return RedirectResponse(item_url(request, found, run.query(done)), status_code=303)


def _then_next(
    request: Request,
    user: ReviewerSession,
    db_url: str,
    settings: Settings,
    submission_id: uuid.UUID,
    flow: ReviewRun,
    action: Callable[[Session], object],
    *,
    done: bool = False,
) -> Response:
    """Run ``action`` on the item; then open the run's next item (offering to undo this one
    when ``done``), or the item page with the refusal."""
    after = submission_id if done else None
    return act(
        request,
        user,
        db_url,
        submission_id,
        flow,
        action,
        then=lambda: open_next(request, user, db_url, settings, flow, done=after),
    )


@router.post("/next", name="review_next")
def start_reviewing(
    request: Request,
    user: ReviewerDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
    run: RunField = "",
) -> Response:
    """Claim the oldest free item of the queue's filters (appeals first) and open it."""
    return open_next(request, user, db_url, settings, ReviewRun.parse(run))


def _bank_id(value: str) -> uuid.UUID | None:
    """The bank picked in the form ("" or a malformed id: none)."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@router.post("/items/{submission_id}/decide", name="item_decide")
def decide_item(
    request: Request,
    submission_id: uuid.UUID,
    user: ReviewerDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
    action: Annotated[str, Form(max_length=16)] = "",
    category: Annotated[str, Form(max_length=16)] = "",
    note: Text = "",
    resolution_note: Text = "",
    again: Annotated[bool, Form()] = False,
    add_to_bank: Annotated[str, Form(max_length=36)] = "",
    run: RunField = "",
    skip: RunField = "",
) -> Response:
    """The reviewer's final allow or block (category "" for allow), a block optionally added
    to a hash bank (``add_to_bank``: its id); then the next item."""
    flow = ReviewRun.parse(run, skip)
    # one form serves both buttons: its category picker means nothing to an allow
    judgement = Judgement(action, None if action == "allow" else category or None)
    notes = Notes(note, resolution_note)
    bank = _bank_id(add_to_bank) if action == "block" else None

    def decided(s: Session) -> object:
        return decide(
            s,
            submission_id,
            user.email,
            judgement,
            notes,
            user.tenant_id,
            again=again,
            add_to_bank=bank,
        )

    return _then_next(request, user, db_url, settings, submission_id, flow, decided, done=True)


@router.post("/items/{submission_id}/skip", name="item_skip")
def skip_item(
    request: Request,
    submission_id: uuid.UUID,
    user: ReviewerDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
    run: RunField = "",
    skip: RunField = "",
) -> Response:
    """Give the item back and open the next one (this run will not offer it again)."""
    flow = ReviewRun.parse(run, skip).skipping(submission_id)

    def released(s: Session) -> object:
        return release_item(s, submission_id, user.email, user.tenant_id)

    return _then_next(request, user, db_url, settings, submission_id, flow, released)


@router.post("/items/{submission_id}/undo", name="item_undo")
def undo_item(
    request: Request,
    submission_id: uuid.UUID,
    user: ReviewerDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
    current: Annotated[str, Form(max_length=36)] = "",
    run: RunField = "",
    skip: RunField = "",
) -> Response:
    """Take back the decision just made and return to that item (the item opened meanwhile,
    ``current``, is given back)."""
    flow = ReviewRun.parse(run, skip)
    ttl = settings.review_claim_ttl_s

    def undo(session: Session) -> None:
        undo_review(session, submission_id, user.email, user.tenant_id, ttl_s=ttl)
        if current and current != str(submission_id):
            with suppress(ValueError, ItemNotFound):  # nothing held there: nothing to give back
                release_item(session, uuid.UUID(current), user.email, user.tenant_id)

    return act(request, user, db_url, submission_id, flow, undo)
