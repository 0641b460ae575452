"""The display settings page (blur strength, grayscale) and the settings every page that shows
images applies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from moderation.accounts.users import ReviewerSession
from moderation.console.auth import ReviewerDep
from moderation.console.render import render
from moderation.review.display import BLURS, Display, display_settings, save_display
from moderation.storage.db import read_scope, session_scope
from moderation.web.deps import DbUrlDep

router = APIRouter()


def display_of(session: Session, user: ReviewerSession) -> Display:
    """The signed-in user's display settings."""
    return display_settings(session, user.user_id)


@router.get("/settings", name="settings")
def settings_page(request: Request, user: ReviewerDep, db_url: DbUrlDep) -> Response:
    """The user's display settings."""
    with read_scope(db_url) as session:
        display = display_of(session, user)
    return render(request, "settings.html", user, display=display, blurs=BLURS, saved=False)


@router.post("/settings", name="settings_save")
def save_settings(
    request: Request,
    user: ReviewerDep,
    db_url: DbUrlDep,
    blur: Annotated[str, Form(max_length=8)] = "strong",
    grayscale: Annotated[bool, Form()] = False,
) -> Response:
    """Keep the settings; back to the settings page (400 for an unknown blur)."""
    display = Display(blur, grayscale)
    try:
        with session_scope(db_url) as session:
            save_display(session, user.user_id, display)
    except ValueError as exc:
        return render(
            request, "settings.html", user, 400, display=display, blurs=BLURS, error=str(exc)
        )
    return RedirectResponse(request.url_for("settings").path + "?saved=1", status_code=303)
