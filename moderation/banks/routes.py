"""``/v1/hash-banks``: a tenant's banks of known content and their entries (scopes
``banks:read`` and ``banks:write``). Another tenant's bank or entry is 404, like an unknown one;
global banks are the operator's (CLI, console) and not listed here."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from moderation.accounts.api_keys import Principal
from moderation.accounts.deps import require_scope
from moderation.accounts.keys import Scope
from moderation.banks import service
from moderation.banks.schemas import (
    BankIn,
    BankList,
    BankOut,
    EntryOut,
    EntryPage,
    HashesIn,
    bank_out,
    entry_out,
)
from moderation.banks.service import BankExists, BankNotFound, NewEntry, Owner
from moderation.storage.db import read_scope, session_scope
from moderation.web.deps import DbUrlDep, SettingsDep
from moderation.web.errors import ApiError, error_responses, not_found, parse_id
from moderation.web.forms import multipart_form

router = APIRouter(
    prefix="/v1/hash-banks",
    tags=["hash banks"],
    responses=error_responses(401, 403, 404, 422, 429),
)
ReaderDep = Annotated[Principal, Depends(require_scope(Scope.BANKS_READ))]
WriterDep = Annotated[Principal, Depends(require_scope(Scope.BANKS_WRITE))]
MAX_PAGE = 1000
_ENTRY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {"type": "string", "format": "binary"},
                        "label": {"type": "string", "maxLength": 200},
                        "action": {"type": "string", "enum": ["block", "review"]},
                    },
                }
            },
            "application/json": {"schema": HashesIn.model_json_schema()},
        },
    }
}


def _owner(caller: Principal) -> Owner:
    return Owner(caller.tenant_id, f"tenant:{caller.tenant.name} key:{caller.key_prefix}")


def _bank_id(value: str) -> uuid.UUID:
    return parse_id(value, "hash bank")


@router.post(
    "",
    status_code=201,
    response_model=BankOut,
    summary="Create a hash bank",
    responses=error_responses(409),
)
def create_bank(body: BankIn, caller: WriterDep, db_url: DbUrlDep) -> BankOut:
    """A new bank of this tenant: its uploads are matched against it before the model."""
    with session_scope(db_url) as session:
        try:
            made = service.create_bank(
                session, _owner(caller), body.name, body.action, body.distance
            )
        except BankExists as exc:
            raise ApiError(409, "conflict", str(exc)) from None
        return bank_out(made, 0)


@router.get("", response_model=BankList, summary="This tenant's hash banks")
def list_banks(caller: ReaderDep, db_url: DbUrlDep) -> BankList:
    """The tenant's own banks with their entry counts (global banks are the operator's)."""
    with read_scope(db_url) as session:
        found = service.list_banks(session, _owner(caller))
        return BankList(banks=[bank_out(b, n) for b, n in found])


@router.delete("/{bank_id}", status_code=204, summary="Delete a hash bank and its entries")
def delete_bank(bank_id: str, caller: WriterDep, db_url: DbUrlDep) -> Response:
    """Its entries stop matching at once."""
    with session_scope(db_url) as session:
        try:
            service.delete_bank(session, _owner(caller), _bank_id(bank_id))
        except BankNotFound:
            raise not_found("hash bank", bank_id) from None
    return Response(status_code=204)


async def _new_entry(request: Request, max_bytes: int) -> tuple[NewEntry, str]:
    """The entry of the request: a multipart ``image`` (hashed here, not kept) or JSON hashes."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await multipart_form(request, max_files=1, max_fields=4)
        try:
            upload = form.get("image")
            if not isinstance(upload, UploadFile):
                raise ApiError(422, "invalid_request", "image: a file is required")
            data = await upload.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ApiError(413, "payload_too_large", f"image is larger than {max_bytes} bytes")
            fields = {k: v for k, v in form.items() if k != "image" and isinstance(v, str)}
        finally:
            await form.close()
        extra = _validated(HashesIn, {"pdq": "0" * 64, **fields})
        try:
            entry = await run_in_threadpool(service.image_entry, data, extra.label, extra.action)
        except Exception:
            raise ApiError(422, "invalid_image", "image: could not be decoded") from None
        return entry, "api:image"
    try:
        payload: Any = json.loads(await request.body())
    except ValueError:
        raise ApiError(
            422, "invalid_request", "body: not JSON (or send multipart 'image')"
        ) from None
    return _validated(HashesIn, payload).entry(), "api:hashes"


def _validated(model: type[HashesIn], data: Any) -> HashesIn:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@router.post(
    "/{bank_id}/entries",
    status_code=201,
    response_model=EntryOut,
    summary="Add an entry: an image (hashed, not kept) or precomputed hashes",
    openapi_extra=_ENTRY_BODY,
    responses=error_responses(413),
)
async def add_entry(
    bank_id: str, request: Request, caller: WriterDep, db_url: DbUrlDep, settings: SettingsDep
) -> EntryOut:
    """The entry matches uploads from now on; the tenant's submissions of the last
    MODERATION_BANK_BACKFILL_DAYS days that the model allowed and it matches join the review
    queue (reason ``hash_match``)."""
    owner, target = _owner(caller), _bank_id(bank_id)

    def check() -> None:
        with read_scope(db_url) as session:
            service.get_bank(session, owner, target)

    def add(entry: NewEntry, source: str) -> EntryOut:
        with session_scope(db_url) as session:
            bank = service.get_bank(session, owner, target)
            (added,) = service.add_entries(session, owner, bank, [entry], source)
            return entry_out(added)

    try:
        await run_in_threadpool(check)  # 404 before reading a body
        entry, source = await _new_entry(request, settings.max_image_bytes)
        return await run_in_threadpool(add, entry, source)
    except BankNotFound:
        raise not_found("hash bank", bank_id) from None


@router.get("/{bank_id}/entries", response_model=EntryPage, summary="A page of a bank's entries")
def list_entries(
    bank_id: str,
    caller: ReaderDep,
    db_url: DbUrlDep,
    after: Annotated[str | None, Query(description="the previous page's next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> EntryPage:
    """Entries in the order they were added."""
    try:
        cursor = int(after) if after else 0
    except ValueError:
        raise ApiError(422, "invalid_request", "after: not a cursor of this list") from None
    with read_scope(db_url) as session:
        try:
            found = service.list_entries(session, _owner(caller), _bank_id(bank_id), cursor, limit)
        except BankNotFound:
            raise not_found("hash bank", bank_id) from None
        more = str(found[-1].seq) if len(found) == limit else None
        return EntryPage(entries=[entry_out(e) for e in found], next_cursor=more)


@router.delete("/{bank_id}/entries/{entry_id}", status_code=204, summary="Delete an entry")
def delete_entry(bank_id: str, entry_id: str, caller: WriterDep, db_url: DbUrlDep) -> Response:
    """The entry stops matching at once."""
    with session_scope(db_url) as session:
        try:
            service.delete_entry(
                session, _owner(caller), _bank_id(bank_id), parse_id(entry_id, "entry")
            )
        except BankNotFound:
            raise not_found("entry", entry_id) from None
    return Response(status_code=204)
