"""Liveness and readiness: the database, the inference workers seen recently, the backlog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from moderation.config import Settings
from moderation.health.service import check_database, check_engine
from moderation.observability.metrics import CONTENT_TYPE, exposition
from moderation.storage.blobs import blob_store
from moderation.submissions.backlog import QueueDepth
from moderation.web.deps import DbUrlDep, SettingsDep

router = APIRouter(tags=["health"])


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
            "profile": "llavaguard",
            "warmed_up": True,
            "batch_size": 8,
            "started_at": "2026-11-25T11:58:00+00:00",
            "last_seen_at": "2026-11-25T12:00:00+00:00",
        }
    ],
    "inference_queue": {"depth": 3, "max_depth": 10000},
    "blob_store": {"kind": "s3", "bucket": "moderation", "status": "ok"},
    "engine": {
        "kind": "vllm",
        "url": "http://vllm:8000/v1",
        "status": "ok",
        "model": "AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf",
        "vllm": "0.32.0",
        "profile": {
            "name": "llavaguard",
            "reason": "auto: AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf is LlavaGuard 1.2",
        },
    },
}


@router.get(
    "/healthz",
    summary="Health of the API, its database and the inference workers",
    responses={
        200: {"content": {"application/json": {"example": _HEALTH_EXAMPLE}}},
        503: {"description": "the database or the blob store cannot be reached"},
    },
)
def healthz(request: Request, db_url: DbUrlDep, settings: SettingsDep) -> JSONResponse:
    """200 when the database and the blob store answer (503 otherwise: no upload can be
    taken), with the workers seen in the last 5 min, the inference backlog and the engine
    (with ``vllm``: whether its server answers; uploads are still taken while it is down, so
    that is ``degraded``, not 503)."""
    database, workers = check_database(db_url)
    engine = check_engine(settings)
    blobs = blob_store(settings).check()
    body: dict[str, Any] = {
        "database": database,
        "workers": workers,
        "inference_queue": _inference_queue(request, settings),
        "engine": engine,
        "blob_store": blobs,
    }
    ok = database == "ok" and blobs["status"] == "ok"
    body["status"] = "ok" if ok and engine.get("status", "ok") == "ok" else "degraded"
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus's scrape: this API's counters (every ``serve`` worker's, added up) and the
    system's gauges (queues, outbox, review backlog)."""
    return Response(exposition(request.app.state.system_metrics), media_type=CONTENT_TYPE)
