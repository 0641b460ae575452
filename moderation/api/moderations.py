"""``/v1/moderations``: submit an image, read its decision."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from moderation.api.deps import BlobsDep, DbUrlDep, SettingsDep, TenantDep
from moderation.api.errors import ApiError, error_responses
from moderation.api.schemas import ModerationOut, moderation_out, received_out
from moderation.domain.images import ImageRejected, inspect_image
from moderation.domain.intake import accept_submission
from moderation.domain.policy_catalog import UnknownPolicy
from moderation.storage.db import session_scope
from moderation.storage.repositories import submissions

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/moderations", tags=["moderations"])

_REJECTION_STATUS = {
    "too_large": (413, "payload_too_large"),
    "unsupported": (415, "unsupported_media_type"),
    "invalid": (422, "invalid_image"),
}


def _read_capped(upload: UploadFile, max_bytes: int) -> bytes:
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "payload_too_large", f"image is larger than {max_bytes} bytes")
    return data


@router.post(
    "",
    status_code=202,
    response_model=ModerationOut,
    summary="Submit an image for moderation",
    responses=error_responses(401, 413, 415, 422),
)
def create_moderation(
    tenant: TenantDep,
    settings: SettingsDep,
    db_url: DbUrlDep,
    blobs: BlobsDep,
    image: Annotated[UploadFile, File(description="JPEG, PNG, WebP, GIF (first frame) or BMP")],
    policy: Annotated[str, Form(min_length=1, max_length=63)] = "default",
    external_id: Annotated[str | None, Form(max_length=200)] = None,
) -> ModerationOut:
    """Validate and store the image, queue its moderation, answer 202 at once."""
    data = _read_capped(image, settings.max_image_bytes)
    try:
        info = inspect_image(
            data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
        )
    except ImageRejected as exc:
        status, code = _REJECTION_STATUS[exc.kind]
        raise ApiError(status, code, exc.message) from exc
    try:
        with session_scope(db_url) as session:
            received = accept_submission(
                session,
                blobs,
                tenant_id=tenant.id,
                data=data,
                image=info,
                policy_slug=policy,
                external_id=external_id,
            )
    except UnknownPolicy as exc:
        raise ApiError(422, "unknown_policy", f"unknown policy '{policy}'") from exc
    # the outbox relay sends the message as soon as this commit is visible (NOTIFY)
    return received_out(received, info, external_id)


@router.get(
    "/{moderation_id}",
    response_model=ModerationOut,
    summary="Read a submission and its decision",
    responses=error_responses(401, 404),
)
def get_moderation(moderation_id: str, tenant: TenantDep, db_url: DbUrlDep) -> ModerationOut:
    """The submission's status and, once decided, its decision."""
    not_found = ApiError(404, "not_found", f"no moderation with id '{moderation_id}'")
    try:
        sid = uuid.UUID(moderation_id)
    except ValueError:
        raise not_found from None
    with session_scope(db_url) as session:
        found = submissions.get_for_tenant(session, sid, tenant.id)
    if found is None:
        raise not_found
    return moderation_out(*found)
