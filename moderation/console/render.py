"""Templates of the console: autoescaped Jinja2, rendered with the signed-in user."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from starlette.responses import HTMLResponse

from moderation.accounts.users import ReviewerSession

HERE = Path(__file__).resolve().parent
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

# Model output and tenant data are untrusted: every template is autoescaped.
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
)


def csrf_field(token: str) -> Markup:
    """The hidden form field that carries the CSRF token (``{{ csrf_field }}``)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


def render(
    request: Request,
    name: str,
    user: ReviewerSession | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page; every template gets ``user``, ``csrf_token``, ``csrf_field`` and
    ``csrf_header`` (the JSON of ``hx-headers``), plus ``context``."""
    token = user.csrf_token if user is not None else context.pop("csrf_token", "")
    return templates.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "csrf_token": token,
            "csrf_field": csrf_field(token),
            "csrf_header": {CSRF_HEADER: token},
            **context,
        },
        status_code=status_code,
    )


def error_page(
    request: Request,
    user: ReviewerSession | None,
    status_code: int,
    message: str,
    heading: str = "Not found",
) -> HTMLResponse:
    """The console's error page (404s of items, policies and runs; 403s)."""
    return render(request, "error.html", user, status_code, message=message, heading=heading)
