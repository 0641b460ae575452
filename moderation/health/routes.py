"""Liveness and readiness: the database, the inference workers seen recently, the backlog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from moderation.config import Settings
from moderation.health import repository as inference_workers
from moderation.storage.db import session_scope
from moderation.submissions.backlog import QueueDepth
from moderation.web.deps import DbUrlDep, SettingsDep

router = APIRouter(tags=["health"])
WORKER_FRESH_S = 300


def _workers(session: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": w.name,
            "model": {"id": w.model_id, "revision": w.model_revision},
            "device": w.device,
            "dtype": w.dtype,
            "warmed_up": w.warmed_up,
            "batch_size": w.batch_size,
            "started_at": w.started_at.isoformat(),
            "last_seen_at": w.last_seen_at.isoformat(),
        }
        for w in inference_workers.seen_since(session, WORKER_FRESH_S)
    ]


def _inference_queue(request: Request, settings: Settings) -> dict[str, Any]:
    backlog: QueueDepth | None = request.app.state.backlog
    return {
        "depth": None if backlog is None else backlog.current(),  # None: Redis unreadable
        "max_depth": settings.max_queue_depth or None,
    }


_HEALTH_EXAMPLE = {
    "status": "ok",
    "database": "ok",
    "workers": [
        {
            "name": "gpu-1:4211",
            "model": {"id": "AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf", "revision": "5d1e7a3c"},
            "device": "cuda:0",
            "dtype": "bfloat16",
            "warmed_up": True,
            "batch_size": 8,
            "started_at": "2026-11-25T11:58:00+00:00",
            "last_seen_at": "2026-11-25T12:00:00+00:00",
        }
    ],
    "inference_queue": {"depth": 3, "max_depth": 10000},
}


@router.get(
    "/healthz",
    summary="Health of the API, its database and the inference workers",
    responses={
        200: {"content": {"application/json": {"example": _HEALTH_EXAMPLE}}},
        503: {"description": "the database cannot be reached"},
    },
)
def healthz(request: Request, db_url: DbUrlDep, settings: SettingsDep) -> JSONResponse:
    """200 when the database answers (503 otherwise), with the workers seen in the last 5 min
    and the inference backlog."""
    body: dict[str, Any] = {"workers": [], "inference_queue": _inference_queue(request, settings)}
    try:
        with session_scope(db_url) as session:
            session.execute(text("SELECT 1"))
            body["workers"] = _workers(session)
        body["database"] = "ok"
    except Exception as exc:
        body["database"] = f"error: {type(exc).__name__}"
    ok = body["database"] == "ok"
    body["status"] = "ok" if ok else "degraded"
    return JSONResponse(body, status_code=200 if ok else 503)
