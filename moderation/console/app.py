"""The console as its own ASGI app, mounted by the API at ``/review`` (kept out of the
public OpenAPI document)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from moderation.accounts.users import ReviewerSession
from moderation.config import Settings
from moderation.console import (
    agreement,
    audit,
    display,
    holds,
    item,
    login,
    policies,
    queue,
    run,
)
from moderation.console.auth import Forbidden, LoginRequired, current_user
from moderation.console.render import HERE, error_page

SECURITY_HEADERS = {
    # everything is served by us; no inline script or style anywhere
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    if not request.url.path.startswith(f"{request.scope.get('root_path', '')}/static/"):
        response.headers["Cache-Control"] = "no-store"  # pages show reviewed content
    return response


async def _to_login(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    login_url = f"{request.url_for('login_form').path}?next={quote(target)}"
    if request.headers.get("HX-Request"):  # htmx follows this header, not a 303
        return Response(status_code=401, headers={"HX-Redirect": login_url})
    return RedirectResponse(login_url, status_code=303)


def _signed_in(request: Request) -> ReviewerSession | None:
    """The signed-in user, for the header of an error page (None when signed out)."""
    try:
        return current_user(request, request.app.state.settings.database_url)
    except LoginRequired:
        return None


async def _forbidden(request: Request, exc: Exception) -> Response:
    return error_page(request, _signed_in(request), 403, str(exc), heading="Not allowed")


async def _invalid(request: Request, exc: Exception) -> Response:
    """Malformed input as an HTML page: a bad id in the path is a page that does not exist
    (404); any other field is named with its problem (422)."""
    assert isinstance(exc, RequestValidationError)
    user = _signed_in(request)
    if any(error["loc"][0] == "path" for error in exc.errors()):
        return error_page(request, user, 404, "no such page: the address has a malformed id")
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error['loc'][1:])}: {error['msg']}" for error in exc.errors()
    )
    return error_page(request, user, 422, problems, heading="Invalid request")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    heading = "Not found" if exc.status_code == 404 else "Request refused"
    return error_page(request, _signed_in(request), exc.status_code, str(exc.detail), heading)


def create_review_app(settings: Settings) -> FastAPI:
    """The console for these settings (pages, static assets, security headers)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.middleware("http")(_security_headers)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http_error)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (login, queue, item, holds, run, audit, agreement, policies, display):
        app.include_router(module.router)
    return app
