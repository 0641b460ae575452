"""``/v1/moderations``: submit an image (a file or a URL), read its decision, appeal it."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from moderation.accounts.api_keys import Principal
from moderation.accounts.deps import UNAUTHORIZED, require_scope
from moderation.accounts.keys import Scope
from moderation.config import Settings
from moderation.observability.carriers import current_carrier
from moderation.policies.catalog import UnknownPolicy
from moderation.storage.blobs import BlobStoreUnavailable
from moderation.submissions import appeals
from moderation.submissions.deps import UploadDep
from moderation.submissions.image_urls import fetch_image
from moderation.submissions.images import (
    ImageInfo,
    ImageRejected,
    animation_limits,
    decodes_to_verify,
    open_image,
    verify_image,
)
from moderation.submissions.intake import (
    IdempotencyKeyReused,
    ImagePurged,
    KeyRevoked,
    Replayed,
    image_row,
    request_fingerprint,
)
from moderation.submissions.intake_batcher import IntakeBatcher
from moderation.submissions.schemas import (
    MODERATION_EXAMPLE,
    AppealIn,
    AppealOut,
    ImageUrlSubmission,
    ModerationOut,
    SubmissionFields,
    appeal_out,
    moderation_out,
    received_out,
)
from moderation.submissions.types import FINAL, IdempotencyClaim, Incoming
from moderation.web.deps import DbUrlDep
from moderation.web.errors import ApiError, error_responses, not_found, parse_id
from moderation.web.forms import multipart_form

log = logging.getLogger(__name__)
UPLOAD_PATH = "/v1/moderations"  # POST: an upload (counted by outcome, moderation.web.telemetry)
router = APIRouter(prefix=UPLOAD_PATH, tags=["moderations"])
SubmitterDep = Annotated[Principal, Depends(require_scope(Scope.MODERATIONS_WRITE))]
ReaderDep = Annotated[Principal, Depends(require_scope(Scope.MODERATIONS_READ))]

MAX_WAIT_S = 30.0
BLOB_RETRY_AFTER = {"Retry-After": "2"}  # the image store was unreachable
# checked on the event loop (no thread hop) when the check takes well under a millisecond:
# decoding up to this many pixels, or a JPEG's structure and sha256 up to this many bytes
INLINE_INSPECT_PIXELS = 256 * 256
INLINE_INSPECT_BYTES = 1 << 20
_REJECTION_STATUS = {
    "too_large": (413, "payload_too_large"),
    "unsupported": (415, "unsupported_media_type"),
    "invalid": (422, "invalid_image"),
}
_MULTIPART_SCHEMA = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {
            "type": "string",
            "format": "binary",
            "description": "JPEG, PNG, WebP, GIF (first frame) or BMP",
        },
        "policy": {"type": "string", "minLength": 1, "maxLength": 63, "default": "default"},
        "external_id": {"type": "string", "maxLength": 200},
    },
}
_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": _MULTIPART_SCHEMA},
            "application/json": {
                "schema": ImageUrlSubmission.model_json_schema(),
                "example": {
                    "image_url": "https://cdn.example.com/uploads/123.jpg",
                    "policy": "default",
                    "external_id": "post-123",
                },
            },
        },
    }
}


_Fields = TypeVar("_Fields", bound=SubmissionFields)


def _validated(model: type[_Fields], data: dict[str, Any]) -> _Fields:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


async def _read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ApiError(413, "payload_too_large", f"image is larger than {max_bytes} bytes")
    return data


async def _parse_submission(
    request: Request, settings: Settings
) -> tuple[SubmissionFields, bytes | None]:
    """The fields and, for a file upload, the image bytes (None: fetch ``image_url``)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        if content_type == "multipart/form-data":
            form = await multipart_form(request, max_files=1, max_fields=8)
        else:
            form = await request.form(max_files=1, max_fields=8)
        try:
            image = form.get("image")
            if not isinstance(image, UploadFile):
                missing = {"loc": ("body", "image"), "msg": "an image file is required"}
                raise RequestValidationError([{**missing, "type": "missing"}])
            fields = {k: v for k, v in form.items() if k != "image" and isinstance(v, str)}
            return _validated(SubmissionFields, fields), await _read_upload(
                image, settings.max_image_bytes
            )
        finally:
            await form.close()
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(422, "invalid_request", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_request", "the JSON body must be an object")
        return _validated(ImageUrlSubmission, body), None
    raise ApiError(
        415,
        "unsupported_media_type",
        "send multipart/form-data with an 'image' file, or application/json with 'image_url'",
    )


def _rejected(exc: ImageRejected) -> ApiError:
    status, code = _REJECTION_STATUS[exc.kind]
    return ApiError(status, code, exc.message)


async def _inspect(data: bytes, settings: Settings) -> ImageInfo:
    """Validate an image: the header on the event loop, the rest there too when it is cheap
    (a small image, or a JPEG of up to a megabyte), else in a thread."""
    try:
        img = open_image(
            data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
        )
        if decodes_to_verify(img):
            cheap = img.width * img.height <= INLINE_INSPECT_PIXELS
        else:
            cheap = len(data) <= INLINE_INSPECT_BYTES
        limits = animation_limits(settings)
        if cheap:
            return verify_image(img, data, limits)
        return await run_in_threadpool(verify_image, img, data, limits)
    except ImageRejected as exc:
        raise _rejected(exc) from exc


async def _prepare(
    caller: Principal,
    fields: SubmissionFields,
    data: bytes | None,
    idempotency_key: str | None,
    settings: Settings,
) -> tuple[Incoming, ImageInfo, bytes]:
    """Validate the image (fetching ``image_url`` first): the submission, ready to write."""
    if isinstance(fields, ImageUrlSubmission):
        data = await run_in_threadpool(fetch_image, fields.image_url, settings)
    assert data is not None, "a file upload carries its bytes"
    info = await _inspect(data, settings)
    claim = None
    if idempotency_key is not None:
        # an uploaded file is fingerprinted by its bytes, a URL by itself
        source = fields.image_url if isinstance(fields, ImageUrlSubmission) else info.sha256
        fingerprint = request_fingerprint(source, fields.policy, fields.external_id)
        claim = IdempotencyClaim(idempotency_key, fingerprint)
    incoming = Incoming(
        caller.tenant_id,
        image_row(info),
        fields.policy,
        fields.external_id,
        caller.key_id,
        claim,
        trace=current_carrier(),
    )
    return incoming, info, data


async def _submit(
    intake: IntakeBatcher,
    prepared: tuple[Incoming, ImageInfo, bytes],
    idempotency_key: str | None,
) -> ModerationOut | uuid.UUID:
    """Store the blob and write the submission (group-committed with concurrent ones): its
    view, or the id of the submission an ``Idempotency-Key`` replays."""
    incoming, info, data = prepared
    try:
        accepted = await intake.accept(incoming, data)
    except UnknownPolicy as exc:
        raise ApiError(422, "unknown_policy", f"unknown policy '{incoming.policy_slug}'") from exc
    except KeyRevoked as exc:
        raise ApiError(401, "unauthorized", "invalid or revoked API key", UNAUTHORIZED) from exc
    except IdempotencyKeyReused as exc:
        raise ApiError(
            409,
            "idempotency_key_reused",
            f"Idempotency-Key '{idempotency_key}' was used with a different request; "
            "use a new key for a new request",
        ) from exc
    except BlobStoreUnavailable as exc:  # nothing stored: no row was written without its blob
        raise ApiError(
            503, "unavailable", "the image store cannot be reached; retry", BLOB_RETRY_AFTER
        ) from exc
    except ImagePurged as exc:  # purged again and again while this upload stored it
        raise ApiError(
            503, "unavailable", "the image is being purged; retry", {"Retry-After": "1"}
        ) from exc
    if isinstance(accepted, Replayed):
        return accepted.submission_id
    # the outbox relay sends the message as soon as this commit is visible (NOTIFY)
    return received_out(accepted, info, incoming.external_id)


def _read(db_url: str, submission_id: uuid.UUID, tenant_id: uuid.UUID) -> ModerationOut | None:
    found = appeals.read_submission(db_url, submission_id, tenant_id)
    return None if found is None else moderation_out(*found)


async def _wait_final(
    db_url: str, view: ModerationOut, tenant_id: uuid.UUID, wait_s: float
) -> ModerationOut:
    """Poll until the submission is decided or failed, or ``wait_s`` has passed."""
    deadline = time.monotonic() + wait_s
    pause = 0.02
    while view.status not in FINAL and time.monotonic() < deadline:
        await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 1.5, 0.25)
        found = await run_in_threadpool(_read, db_url, view.id, tenant_id)
        if found is not None:
            view = found
    return view


@router.post(
    "",
    status_code=202,
    response_model=ModerationOut,
    summary="Submit an image for moderation",
    description=(
        "Send the image as a multipart file (`image`), or its address as JSON "
        "(`image_url`; fetched with SSRF protection). The answer is 202 with the stored "
        "submission; its decision arrives by webhook or `GET /v1/moderations/{id}`. With "
        "`?wait=N` (seconds, at most 30) the call waits for the decision and answers 200 "
        "when it is ready in time. Send an `Idempotency-Key` header to make retries safe: "
        "the same key with the same request answers with the same submission (header "
        "`Idempotent-Replayed: true`), with another request 409."
    ),
    responses={
        200: {"model": ModerationOut, "description": "decided within `wait` seconds"},
        202: {"content": {"application/json": {"example": MODERATION_EXAMPLE}}},
        **error_responses(401, 403, 409, 413, 415, 422, 429, 503),
    },
    openapi_extra=_SUBMIT_BODY,
)
async def create_moderation(
    request: Request,
    response: Response,
    upload: UploadDep,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_S, description="seconds to wait for the decision")
    ] = 0,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=255, description="makes retries of this call safe"),
    ] = None,
) -> ModerationOut:
    """Validate and store the image, queue its moderation, answer 202 at once."""
    caller, settings, db_url = upload.caller, upload.settings, upload.db_url
    fields, data = await _parse_submission(request, settings)
    prepared = await _prepare(caller, fields, data, idempotency_key, settings)
    submitted = await _submit(upload.intake, prepared, idempotency_key)
    if isinstance(submitted, uuid.UUID):
        response.headers["Idempotent-Replayed"] = "true"
        view = await run_in_threadpool(_read, db_url, submitted, caller.tenant_id)
        assert view is not None, "an idempotency key points at its tenant's submission"
    else:
        view = submitted
    if wait > 0:
        view = await _wait_final(db_url, view, caller.tenant_id, wait)
    if view.status in FINAL and wait > 0:
        response.status_code = 200
    return view


@router.get(
    "/{moderation_id}",
    response_model=ModerationOut,
    summary="Read a submission and its decision",
    responses={
        200: {"content": {"application/json": {"example": MODERATION_EXAMPLE}}},
        **error_responses(401, 403, 404, 429),
    },
)
def get_moderation(moderation_id: str, caller: ReaderDep, db_url: DbUrlDep) -> ModerationOut:
    """The submission's status and, once decided, its decision (and any appeal)."""
    view = _read(db_url, parse_id(moderation_id, "moderation"), caller.tenant_id)
    if view is None:
        raise not_found("moderation", moderation_id)
    return view


@router.post(
    "/{moderation_id}/appeals",
    status_code=201,
    response_model=AppealOut,
    summary="Appeal a decision",
    description=(
        "Ask for a human review of a decided submission: the decision enters the review "
        "queue with the appeal attached. One open appeal per submission."
    ),
    responses=error_responses(401, 403, 404, 409, 422, 429),
)
def create_appeal(
    moderation_id: str, body: AppealIn, caller: SubmitterDep, db_url: DbUrlDep
) -> AppealOut:
    """File an appeal against the decision."""
    submission_id = parse_id(moderation_id, "moderation")
    try:
        appeal = appeals.appeal_decision(db_url, caller.tenant_id, submission_id, body.reason)
    except appeals.SubmissionNotFound:
        raise not_found("moderation", moderation_id) from None
    except appeals.NotAppealable as exc:
        raise ApiError(409, "not_appealable", str(exc)) from None
    return appeal_out(appeal)
