"""The console as its own ASGI app, mounted by the API at ``/review`` (kept out of the
public OpenAPI document)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import RedirectResponse, Response

from moderation.config import Settings
from moderation.console import agreement, audit, item, login, policies, queue
from moderation.console.auth import Forbidden, LoginRequired
from moderation.console.render import HERE, render

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


async def _forbidden(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", None, 403, message=str(exc))


def create_review_app(settings: Settings) -> FastAPI:
    """The console for these settings (pages, static assets, security headers)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.middleware("http")(_security_headers)
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(Forbidden, _forbidden)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (login, queue, item, audit, agreement, policies):
        app.include_router(module.router)
    return app
