"""``/v1/moderations/{id}/image`` (erasure) and ``/v1/moderations/{id}/legal-hold``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from moderation.accounts.api_keys import Principal
from moderation.accounts.deps import require_scope
from moderation.accounts.keys import Scope
from moderation.retention import requests
from moderation.retention.requests import Requester
from moderation.retention.schemas import LegalHoldIn
from moderation.web.deps import BlobsDep, DbUrlDep
from moderation.web.errors import ApiError, error_responses, not_found, parse_id

router = APIRouter(prefix="/v1/moderations", tags=["moderations"])
WriterDep = Annotated[Principal, Depends(require_scope(Scope.MODERATIONS_WRITE))]
HolderDep = Annotated[Principal, Depends(require_scope(Scope.MODERATIONS_HOLD))]


def _requester(caller: Principal) -> Requester:
    return Requester(caller.tenant_id, f"api:{caller.key_id}")


@router.delete(
    "/{moderation_id}/image",
    status_code=204,
    summary="Erase a submission's image now",
    description=(
        "Deletes the image bytes of a decided (or failed) submission at once, for an erasure "
        "request; the decision, its provenance (the image's sha256) and the audit trail stay. "
        "A blob shared with another submission that still keeps it stays for that one. 409 "
        "while the submission is still queued or processing, or while a legal hold keeps the "
        "image. Erasing an image already deleted answers 204 again."
    ),
    responses=error_responses(401, 403, 404, 409, 429),
)
def erase_image(
    moderation_id: str, caller: WriterDep, db_url: DbUrlDep, blobs: BlobsDep
) -> Response:
    """Delete the image bytes now."""
    submission_id = parse_id(moderation_id, "moderation")
    try:
        requests.erase_image(db_url, blobs, submission_id, _requester(caller))
    except requests.SubmissionNotFound:
        raise not_found("moderation", moderation_id) from None
    except requests.ImageOnHold as exc:
        raise ApiError(409, "legal_hold", str(exc)) from None
    except requests.StillModerating as exc:
        raise ApiError(409, "still_moderating", str(exc)) from None
    return Response(status_code=204)


@router.put(
    "/{moderation_id}/legal-hold",
    status_code=204,
    summary="Place a legal hold on a submission's image",
    description=(
        "While held, the image is never purged by retention nor erased on request. A new "
        "reason replaces the old one. 409 when the image was deleted already."
    ),
    responses=error_responses(401, 403, 404, 409, 422, 429),
)
def place_legal_hold(
    moderation_id: str, body: LegalHoldIn, caller: HolderDep, db_url: DbUrlDep
) -> Response:
    """Keep the image until the hold is released."""
    submission_id = parse_id(moderation_id, "moderation")
    try:
        requests.place_hold(db_url, submission_id, body.reason, _requester(caller))
    except requests.SubmissionNotFound:
        raise not_found("moderation", moderation_id) from None
    except requests.ImageAlreadyDeleted as exc:
        raise ApiError(409, "image_deleted", str(exc)) from None
    return Response(status_code=204)


@router.delete(
    "/{moderation_id}/legal-hold",
    status_code=204,
    summary="Release a legal hold",
    description="The image is purged again once its retention is over (204 when none was held).",
    responses=error_responses(401, 403, 404, 429),
)
def release_legal_hold(moderation_id: str, caller: HolderDep, db_url: DbUrlDep) -> Response:
    """Let retention apply again."""
    submission_id = parse_id(moderation_id, "moderation")
    try:
        requests.release_hold(db_url, submission_id, _requester(caller))
    except requests.SubmissionNotFound:
        raise not_found("moderation", moderation_id) from None
    return Response(status_code=204)
