"""Who is signed in to the console: session cookie, role checks, CSRF on every unsafe request.

Page authors use :func:`require_user`::

    @router.get("/thing")
    def thing(request: Request, user: Annotated[ReviewerSession, Depends(require_user())]): ...

    @router.post("/thing")  # the CSRF token is checked before the endpoint runs
    def act(user: Annotated[ReviewerSession, Depends(require_user("policy_author"))]): ...
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from moderation.accounts.users import ReviewerSession, Role, resume_session
from moderation.console.render import CSRF_FIELD, CSRF_HEADER
from moderation.storage.db import session_scope
from moderation.web.deps import DbUrlDep

SESSION_COOKIE = "mod_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No valid session: the console sends the browser to the login page."""


class Forbidden(Exception):
    """Signed in, but not allowed (role, or a missing/wrong CSRF token): a 403 page."""


def current_user(request: Request, db_url: DbUrlDep) -> ReviewerSession:
    """The signed-in user of the session cookie (LoginRequired when none or expired)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired
    with session_scope(db_url) as session:
        user = resume_session(session, token)
    if user is None:
        raise LoginRequired
    return user


async def check_csrf(request: Request, expected: str) -> None:
    """Forbidden unless an unsafe request carries ``expected`` in the ``X-CSRF-Token``
    header (htmx) or the ``csrf_token`` form field (plain forms)."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, expected):
        raise Forbidden("the form was stale or did not come from this console; reload and retry")


def require_user(
    role: Role = "reviewer",
) -> Callable[[Request, ReviewerSession], Awaitable[ReviewerSession]]:
    """A dependency: the signed-in user, whose role must include ``role`` (admin ⊇
    policy_author ⊇ reviewer); on POST/PUT/PATCH/DELETE the CSRF token is checked too."""

    async def dependency(
        request: Request, user: Annotated[ReviewerSession, Depends(current_user)]
    ) -> ReviewerSession:
        await check_csrf(request, user.csrf_token)
        if not user.has_role(role):
            raise Forbidden(f"this page needs the {role} role")
        return user

    dependency.__name__ = f"require_{role}"
    return dependency


ReviewerDep = Annotated[ReviewerSession, Depends(require_user("reviewer"))]
PolicyAuthorDep = Annotated[ReviewerSession, Depends(require_user("policy_author"))]
AdminDep = Annotated[ReviewerSession, Depends(require_user("admin"))]
