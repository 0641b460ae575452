"""Sign in and out. No session exists yet at sign-in, so the login form is CSRF-protected by a
signed double-submit: a random nonce in a cookie, and in the form the nonce with the server's
HMAC of it (a cookie and token pair chosen by a client does not pass); every later form by the
session's own token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from moderation.accounts.users import LoginRefused, check_login, close_session, open_session
from moderation.config import Settings
from moderation.console.auth import SESSION_COOKIE, Forbidden, ReviewerDep
from moderation.console.render import CSRF_FIELD, render
from moderation.storage.db import session_scope
from moderation.web.deps import DbUrlDep, SettingsDep

router = APIRouter()
LOGIN_CSRF_COOKIE = "mod_login_csrf"


def _cookie_path(request: Request) -> str:
    return request.scope.get("root_path") or "/"


def _safe_next(request: Request, target: str | None) -> str:
    """Only redirect within the console after login (no open redirect)."""
    home = _cookie_path(request).rstrip("/") + "/"
    if target and target.startswith(home) and not target.startswith("//"):
        return target
    return home


def _set_cookie(
    response: Response, request: Request, settings: Settings, name: str, value: str, age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path=_cookie_path(request),
        httponly=True,
        samesite="lax" if name == SESSION_COOKIE else "strict",
        secure=settings.environment == "production",
    )


def _signature(settings: Settings, nonce: str) -> str:
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, b"login-csrf:" + nonce.encode(), hashlib.sha256).hexdigest()


def _login_token_ok(request: Request, settings: Settings, sent: str) -> bool:
    """``sent`` is ``nonce.signature`` for the nonce of this browser's cookie, signed by us."""
    nonce = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent_nonce, _, signature = sent.partition(".")
    return bool(nonce) and (
        secrets.compare_digest(sent_nonce, nonce)
        & secrets.compare_digest(signature, _signature(settings, nonce))
    )


def _login_page(
    request: Request, settings: Settings, next_url: str | None, error: str | None, status: int
) -> Response:
    nonce = secrets.token_urlsafe(32)
    token = f"{nonce}.{_signature(settings, nonce)}"
    response = render(
        request, "login.html", None, status, csrf_token=token, next=next_url, error=error
    )
    _set_cookie(response, request, settings, LOGIN_CSRF_COOKIE, nonce, 3600)
    return response


@router.get("/login", name="login_form")
def login_form(request: Request, settings: SettingsDep, next: str | None = None) -> Response:
    """The sign-in form."""
    return _login_page(request, settings, next, None, 200)


def _login(settings: Settings, db_url: str, email: str, password: str) -> str:
    refused: LoginRefused | None = None
    with session_scope(db_url) as session:
        try:
            user = check_login(
                session,
                email,
                password,
                settings.login_max_failures,
                timedelta(seconds=settings.login_lockout_s),
            )
        except LoginRefused as exc:
            refused = exc  # raised after the commit: failed attempts must count
    if refused is not None:
        raise refused
    with session_scope(db_url) as session:
        return open_session(session, user, timedelta(seconds=settings.session_ttl_s))


@router.post("/login", name="login")
async def login(
    request: Request,
    settings: SettingsDep,
    db_url: DbUrlDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the credentials; on success set the session cookie and go on to ``next``."""
    if not _login_token_ok(request, settings, csrf_token):
        raise Forbidden("the sign-in form expired; reload the page and try again")
    try:
        token = await run_in_threadpool(_login, settings, db_url, email, password)
    except LoginRefused as refused:
        return _login_page(request, settings, next, str(refused), 401)
    response = RedirectResponse(_safe_next(request, next), status_code=303)
    _set_cookie(response, request, settings, SESSION_COOKIE, token, settings.session_ttl_s)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=_cookie_path(request))
    return response


@router.post("/logout", name="logout")
def logout(request: Request, user: ReviewerDep, db_url: DbUrlDep) -> Response:
    """End the session (CSRF-checked like every form) and go back to the login page."""
    with session_scope(db_url) as session:
        close_session(session, request.cookies[SESSION_COOKIE])
    response = RedirectResponse(request.url_for("login_form").path, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=_cookie_path(request))
    return response
