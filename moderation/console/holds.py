"""Legal holds from the console: an admin places a hold on an item's image (with a reason) or
releases it; the same domain calls as the API's ``/v1/moderations/{id}/legal-hold``, audited in
the item's tenant chain. An admin of one tenant reaches only that tenant's items."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from moderation.accounts.users import ReviewerSession
from moderation.console.auth import AdminDep
from moderation.console.item import item_page_of, item_url, missing
from moderation.console.params import ReviewRun
from moderation.retention.requests import (
    ImageAlreadyDeleted,
    Requester,
    SubmissionNotFound,
    place_hold,
    release_hold,
)
from moderation.web.deps import DbUrlDep

router = APIRouter(prefix="/items/{submission_id}/legal-hold")


def _requester(user: ReviewerSession) -> Requester:
    return Requester(user.tenant_id, f"user:{user.email}")


@router.post("", name="item_hold")
def hold(
    request: Request,
    submission_id: uuid.UUID,
    user: AdminDep,
    db_url: DbUrlDep,
    reason: Annotated[str, Form(min_length=1, max_length=500)],
) -> Response:
    """Place (or re-word) the legal hold: the image is neither purged nor erased until
    released."""
    try:
        place_hold(db_url, submission_id, reason.strip() or "held", _requester(user))
    except SubmissionNotFound:
        return missing(request, user)
    except ImageAlreadyDeleted as exc:
        return item_page_of(request, user, db_url, submission_id, ReviewRun(), 409, str(exc))
    return RedirectResponse(item_url(request, submission_id), status_code=303)


@router.post("/release", name="item_hold_release")
def release(
    request: Request, submission_id: uuid.UUID, user: AdminDep, db_url: DbUrlDep
) -> Response:
    """Release the legal hold: the image is purged again when its retention has passed."""
    try:
        release_hold(db_url, submission_id, _requester(user))
    except SubmissionNotFound:
        return missing(request, user)
    return RedirectResponse(item_url(request, submission_id), status_code=303)
