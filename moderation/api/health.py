"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from moderation.api.deps import DbUrlDep
from moderation.storage.db import session_scope

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Health of the API and its database")
def healthz(db_url: DbUrlDep) -> JSONResponse:
    """200 when the database answers, 503 otherwise."""
    checks: dict[str, Any] = {}
    try:
        with session_scope(db_url) as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    ok = checks["database"] == "ok"
    return JSONResponse(
        {"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503
    )
