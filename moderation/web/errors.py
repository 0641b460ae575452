"""One error shape for every failure: ``{"error": {"code", "message"}}`` with the right status."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API reports to the caller."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def parse_id(value: str, what: str) -> uuid.UUID:
    """A path id as a UUID: 404, like an unknown id, for anything that is not one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise not_found(what, value) from None


def not_found(what: str, value: str) -> ApiError:
    """The 404 of an unknown id (or another tenant's)."""
    return ApiError(404, "not_found", f"no {what} with id '{value}'")


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON body of an error."""
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses (all in the one error shape)."""
    return {
        s: {"model": ErrorResponse, "description": _ERROR_TEXT.get(s, "error")} for s in statuses
    }


_ERROR_TEXT = {
    400: "bad request",
    401: "missing, invalid or revoked API key",
    403: "the API key lacks the scope this call needs",
    404: "no such object for this tenant",
    409: "conflicts with the current state",
    410: "gone",
    413: "the body is over the size limit",
    415: "unsupported content or image type",
    422: "the request is malformed or names something unknown",
    429: "rate limit exceeded (see Retry-After)",
    503: "temporarily unable to accept work (see Retry-After)",
}


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body", "query", "path", "header"))


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = [f"{_field_path(e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()]
    return error_response(422, "invalid_request", "; ".join(parts))


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette's 405 names only the first
    route's, where a path has one route per method)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # a body the framework could not parse (JSON, multipart)
        return error_response(422, "invalid_request", f"malformed request body: {exc.detail}")
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(exc.status_code, code, str(exc.detail), headers)


DATABASE_RETRY_AFTER_S = 5


def _database_unreachable(exc: Exception) -> bool:
    """A lost or refused database connection (not a bad statement or a constraint)."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    if not _database_unreachable(exc):
        return await _unhandled(_, exc)
    log.warning("database unavailable: %s", str(exc).splitlines()[0])
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable; nothing was stored, retry later",
        {"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )


async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the one error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _unhandled)


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, e.g. 'unknown_policy'")
    message: str = Field(description="what went wrong and what to do about it")


class ErrorResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"error": {"code": "not_found", "message": "no moderation with id 'x'"}}
        }
    )
    error: ErrorDetail
