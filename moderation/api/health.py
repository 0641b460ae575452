"""Liveness and readiness: the database and the inference workers seen recently."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from moderation.api.deps import DbUrlDep
from moderation.storage.db import session_scope
from moderation.storage.repositories import inference_workers

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


@router.get("/healthz", summary="Health of the API, its database and the inference workers")
def healthz(db_url: DbUrlDep) -> JSONResponse:
    """200 when the database answers (503 otherwise), with the workers seen in the last 5 min."""
    body: dict[str, Any] = {"workers": []}
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
