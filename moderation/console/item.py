"""One queue item: the page (image, verdicts, scores, the policy in view, provenance,
history), its image bytes, and the claim / release forms (deciding is in
:mod:`moderation.console.run`). Tenant-scoped users reach only their tenant's items (others
are 404)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from moderation.accounts.users import ReviewerSession
from moderation.banks.service import reviewer_banks
from moderation.console.auth import ReviewerDep
from moderation.console.charts import bar_chart_svg
from moderation.console.display import display_of
from moderation.console.params import ReviewRun
from moderation.console.render import error_page, render
from moderation.review.actions import HUMAN_ACTIONS, ClaimRequired, ReviewInvalid, agreeing
from moderation.review.detail import review_detail
from moderation.review.flow import UNDO_WINDOW_S
from moderation.review.queue import (
    AlreadyReviewed,
    ClaimHeld,
    ItemNotFound,
    claim_item,
    release_item,
    visible_decision,
)
from moderation.storage.blobs import BlobNotFound
from moderation.storage.db import read_scope, session_scope
from moderation.submissions.frames import frame_png
from moderation.submissions.images import ImageRejected, animation_limits
from moderation.web.deps import BlobsDep, DbUrlDep, SettingsDep

router = APIRouter(prefix="/items/{submission_id}")
RunField = Annotated[str, Form(max_length=4000)]
REFUSED = (ReviewInvalid, ClaimRequired, ClaimHeld, AlreadyReviewed)  # the page, with why


def missing(request: Request, user: ReviewerSession) -> Response:
    """The 404 page of an item the user may not see (or that does not exist)."""
    return error_page(request, user, 404, "no such item, or not one you may see")


def item_page_of(
    request: Request,
    user: ReviewerSession,
    db_url: str,
    submission_id: uuid.UUID,
    run: ReviewRun,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    """The item page, within a reviewer's ``run`` through the queue."""
    with read_scope(db_url) as session:
        try:
            detail = review_detail(session, submission_id, user.tenant_id)
        except ItemNotFound:
            return missing(request, user)
        scores = {"unsafe": detail.unsafe, **detail.category_scores}
        agree = agreeing(detail.decision)
        return render(
            request,
            "item.html",
            user,
            status_code,
            d=detail,
            error=error,
            scores_svg=bar_chart_svg(scores, title="scores"),
            actions=HUMAN_ACTIONS,
            agree=agree,
            shown=agree.category or detail.decision.category or detail.model.category,
            mine=detail.claim is not None and detail.claim.reviewer == user.email,
            run=run,
            undo_window_s=UNDO_WINDOW_S,
            display=display_of(session, user),
            banks=[
                b
                for b in reviewer_banks(session, user.tenant_id)
                if b.tenant_id in (None, detail.submission.tenant_id)
            ],
        )


def act(
    request: Request,
    user: ReviewerSession,
    db_url: str,
    submission_id: uuid.UUID,
    run: ReviewRun,
    action: Callable[[Session], object],
    then: Callable[[], Response] | None = None,
) -> Response:
    """Run ``action`` in one transaction; then ``then()`` (by default back to the item page,
    303), or the item page with the refusal (422 for an invalid review, 409 otherwise)."""
    try:
        with session_scope(db_url) as session:
            action(session)
    except ItemNotFound:
        return missing(request, user)
    except REFUSED as exc:
        status = 422 if isinstance(exc, ReviewInvalid) else 409
        return item_page_of(request, user, db_url, submission_id, run, status, str(exc))
    if then is not None:
        return then()
    return RedirectResponse(item_url(request, submission_id, run.query()), status_code=303)


def item_url(request: Request, submission_id: uuid.UUID, query: str = "") -> str:
    """The path of an item page, with its query string."""
    path = request.url_for("item", submission_id=submission_id).path
    return f"{path}?{query}" if query else path


@router.get("", name="item")
def item_page(
    request: Request, submission_id: uuid.UUID, user: ReviewerDep, db_url: DbUrlDep
) -> Response:
    """Everything a reviewer needs to judge the item."""
    q = request.query_params
    run = ReviewRun.parse(request.url.query, q.get("skip", ""), q.get("done", ""))
    return item_page_of(request, user, db_url, submission_id, run)


@router.get("/image", name="item_image")
def item_image(
    request: Request,
    submission_id: uuid.UUID,
    user: ReviewerDep,
    db_url: DbUrlDep,
    blobs: BlobsDep,
) -> Response:
    """The image bytes, never cached."""
    with read_scope(db_url) as session:
        try:
            submission, image, _ = visible_decision(session, submission_id, user.tenant_id)
        except ItemNotFound:
            return missing(request, user)
    if submission.image_purged_at is not None:
        when = submission.image_purged_at.strftime("%Y-%m-%d %H:%M UTC")
        return error_page(request, user, 410, f"the image was deleted on {when}", "Gone")
    try:
        data = blobs.get(image.sha256)
    except BlobNotFound:
        return error_page(request, user, 404, "the image is no longer stored")
    media_type = f"image/{image.format.lower()}"
    return Response(data, media_type=media_type, headers={"Cache-Control": "no-store"})


@router.get("/frames/{index}", name="item_frame")
def item_frame(
    request: Request,
    submission_id: uuid.UUID,
    index: int,
    user: ReviewerDep,
    db_url: DbUrlDep,
    blobs: BlobsDep,
    settings: SettingsDep,
) -> Response:
    """One judged frame of an animated image, as PNG, never cached (only the frames the
    decision lists are served)."""
    with read_scope(db_url) as session:
        try:
            submission, image, decision = visible_decision(session, submission_id, user.tenant_id)
        except ItemNotFound:
            return missing(request, user)
    if index not in {f["index"] for f in decision.frames or []}:
        return error_page(request, user, 404, "no such judged frame")
    if submission.image_purged_at is not None:
        return error_page(request, user, 410, "the image was deleted", "Gone")
    try:
        png = frame_png(
            blobs.get(image.sha256),
            index,
            max_pixels=settings.max_image_pixels,
            limits=animation_limits(settings),
        )
    except (BlobNotFound, ImageRejected):
        return error_page(request, user, 404, "the frame can no longer be shown")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/claim", name="item_claim")
def claim(
    request: Request,
    submission_id: uuid.UUID,
    user: ReviewerDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
    again: Annotated[bool, Form()] = False,
    run: RunField = "",
) -> Response:
    """Take the item (renews the viewer's own claim); ``again`` re-reviews a decided one."""
    ttl = settings.review_claim_ttl_s
    return act(
        request,
        user,
        db_url,
        submission_id,
        ReviewRun.parse(run),
        lambda s: claim_item(s, submission_id, user.email, user.tenant_id, ttl, again=again),
    )


@router.post("/release", name="item_release")
def release(
    request: Request,
    submission_id: uuid.UUID,
    user: ReviewerDep,
    db_url: DbUrlDep,
    run: RunField = "",
) -> Response:
    """Give the item back to the queue."""
    return act(
        request,
        user,
        db_url,
        submission_id,
        ReviewRun.parse(run),
        lambda s: release_item(s, submission_id, user.email, user.tenant_id),
    )
