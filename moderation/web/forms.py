"""Multipart forms whose text fields must be UTF-8: starlette would decode a field that is not
as Latin-1 and hand on the garble; here such a form is refused."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from moderation.web.errors import ApiError


class _Utf8MultiPartParser(MultiPartParser):
    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode("utf-8")
            except UnicodeDecodeError:
                raise MultiPartException(f"form field '{part.field_name}' is not UTF-8") from None
        super().on_part_end()


async def multipart_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """The request's multipart form (422 when malformed or a text field is not UTF-8); the
    caller closes it."""
    parser = _Utf8MultiPartParser(
        request.headers, request.stream(), max_files=max_files, max_fields=max_fields
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise ApiError(422, "invalid_request", f"malformed request body: {exc.message}") from None
