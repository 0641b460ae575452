"""The review queue page (a placeholder until the queue domain lands)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from moderation.review_ui.auth import ReviewerDep
from moderation.review_ui.render import render

router = APIRouter()


@router.get("/", name="queue")
def queue_page(request: Request, user: ReviewerDep) -> Response:
    """Items awaiting review."""
    return render(request, "queue.html", user)
