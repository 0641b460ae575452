"""The dependency of ``POST /v1/moderations``: the uploading caller, its app and the backlog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from moderation.accounts.api_keys import Principal
from moderation.accounts.deps import submitting_principal, with_scope
from moderation.accounts.keys import Scope
from moderation.config import Settings
from moderation.submissions.backlog import QueueDepth
from moderation.submissions.intake_batcher import IntakeBatcher
from moderation.web.errors import ApiError

BACKLOG_RETRY_AFTER_S = 5


async def _check_queue_room(request: Request, settings: Settings) -> None:
    """503 while the inference backlog is over ``max_queue_depth``."""
    backlog: QueueDepth | None = request.app.state.backlog
    if settings.max_queue_depth <= 0 or backlog is None:
        return
    # async, so no thread hop per request; the once-a-second Redis read goes to a thread
    depth = backlog.current() if backlog.is_fresh() else await run_in_threadpool(backlog.current)
    if depth is not None and depth > settings.max_queue_depth:
        raise ApiError(
            503,
            "overloaded",
            f"the inference backlog ({depth}) is over {settings.max_queue_depth}; retry later",
            {"Retry-After": str(BACKLOG_RETRY_AFTER_S)},
        )


@dataclass(frozen=True)
class Upload:
    """What ``POST /v1/moderations`` needs of its caller and its app."""

    caller: Principal
    settings: Settings
    db_url: str
    intake: IntakeBatcher


async def upload_context(request: Request) -> Upload:
    """The uploading caller (:func:`submitting_principal`: 401, 429), whose key must hold
    ``moderations:write`` (403), while the inference backlog has room (503), with the app's
    settings and intake writer.

    One dependency rather than a tree of them: dependency solving is part of every upload's
    cost. The key is checked for its scope before the backlog, so a key that may not upload
    learns so even under load."""
    settings: Settings = request.app.state.settings
    assert settings.database_url, "create_app checks the database URL"
    caller = await submitting_principal(request, settings.database_url)
    with_scope(caller, Scope.MODERATIONS_WRITE)
    await _check_queue_room(request, settings)
    return Upload(caller, settings, settings.database_url, request.app.state.intake)


UploadDep = Annotated[Upload, Depends(upload_context)]
