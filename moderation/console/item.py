"""One queue item: the page (image, verdicts, scores, policy text, provenance, history), its
image bytes, and the claim / confirm / overturn / release forms. Tenant-scoped users reach
only their tenant's items (others are 404)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from moderation.accounts.users import ReviewerSession
from moderation.console.auth import ReviewerDep
from moderation.console.charts import bar_chart_svg
from moderation.console.render import error_page, render
from moderation.review.actions import ACTIONS, ClaimRequired, ReviewInvalid, confirm, overturn
from moderation.review.detail import review_detail
from moderation.review.queue import (
    ClaimHeld,
    ItemNotFound,
    claim_item,
    release_item,
    visible_decision,
)
from moderation.storage.blobs import BlobNotFound
from moderation.storage.db import read_scope, session_scope
from moderation.web.deps import BlobsDep, DbUrlDep, SettingsDep

router = APIRouter(prefix="/items/{submission_id}")
Note = Annotated[str, Form(max_length=4000)]
REFUSED = (ReviewInvalid, ClaimRequired, ClaimHeld)  # re-render the page with the message


def _missing(request: Request, user: ReviewerSession) -> Response:
    return error_page(request, user, 404, "no such item, or not one you may see")


def _page(
    request: Request,
    user: ReviewerSession,
    db_url: str,
    submission_id: uuid.UUID,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    with read_scope(db_url) as session:
        try:
            detail = review_detail(session, submission_id, user.tenant_id)
        except ItemNotFound:
            return _missing(request, user)
        scores = {"unsafe": detail.unsafe, **detail.category_scores}
        return render(
            request,
            "item.html",
            user,
            status_code,
            d=detail,
            error=error,
            scores_svg=bar_chart_svg(scores, title="scores"),
            actions=ACTIONS,
            categories=list(detail.policy.category_names),
            mine=detail.claim is not None and detail.claim.reviewer == user.email,
        )


def _act(
    request: Request,
    user: ReviewerSession,
    db_url: str,
    submission_id: uuid.UUID,
    act: Callable[[Session], object],
) -> Response:
    """Run ``act`` in one transaction; back to the page (303) or the page with the refusal."""
    try:
        with session_scope(db_url) as session:
            act(session)
    except ItemNotFound:
        return _missing(request, user)
    except REFUSED as exc:
        status = 422 if isinstance(exc, ReviewInvalid) else 409
        return _page(request, user, db_url, submission_id, status, str(exc))
    target = request.url_for("item", submission_id=submission_id).path
    return RedirectResponse(target, status_code=303)


@router.get("", name="item")
def item_page(
    request: Request, submission_id: uuid.UUID, user: ReviewerDep, db_url: DbUrlDep
) -> Response:
    """Everything a reviewer needs to judge the item."""
    return _page(request, user, db_url, submission_id)


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
            _, image, _ = visible_decision(session, submission_id, user.tenant_id)
        except ItemNotFound:
            return _missing(request, user)
    try:
        data = blobs.get(image.sha256)
    except BlobNotFound:
        return error_page(request, user, 404, "the image is no longer stored")
    media_type = f"image/{image.format.lower()}"
    return Response(data, media_type=media_type, headers={"Cache-Control": "no-store"})


@router.post("/claim", name="item_claim")
def claim(
    request: Request,
    submission_id: uuid.UUID,
    user: ReviewerDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
) -> Response:
    """Take the item (renews the viewer's own claim)."""
    ttl = settings.review_claim_ttl_s
    return _act(
        request,
        user,
        db_url,
        submission_id,
        lambda s: claim_item(s, submission_id, user.email, user.tenant_id, ttl),
    )


@router.post("/release", name="item_release")
def release(
    request: Request, submission_id: uuid.UUID, user: ReviewerDep, db_url: DbUrlDep
) -> Response:
    """Give the item back to the queue."""
    return _act(
        request,
        user,
        db_url,
        submission_id,
        lambda s: release_item(s, submission_id, user.email, user.tenant_id),
    )


@router.post("/confirm", name="item_confirm")
def confirm_item(
    request: Request,
    submission_id: uuid.UUID,
    user: ReviewerDep,
    db_url: DbUrlDep,
    note: Note = "",
) -> Response:
    """Agree with the current decision."""
    return _act(
        request,
        user,
        db_url,
        submission_id,
        lambda s: confirm(s, submission_id, user.email, note, user.tenant_id),
    )


@router.post("/overturn", name="item_overturn")
def overturn_item(
    request: Request,
    submission_id: uuid.UUID,
    user: ReviewerDep,
    db_url: DbUrlDep,
    action: Annotated[str, Form(max_length=16)] = "",
    category: Annotated[str, Form(max_length=16)] = "",
    note: Note = "",
) -> Response:
    """Replace the decision (category "" means none: safe)."""
    return _act(
        request,
        user,
        db_url,
        submission_id,
        lambda s: overturn(
            s, submission_id, user.email, action, category or None, note, user.tenant_id
        ),
    )
