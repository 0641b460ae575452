"""Health checks: the database answers, which inference workers it saw, the inference server."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from moderation.config import Settings
from moderation.health import repository as inference_workers
from moderation.storage.db import session_scope

WORKER_FRESH_S = 300


def _workers(session: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": w.name,
            "model": {"id": w.model_id, "revision": w.model_revision},
            "device": w.device,
            "dtype": w.dtype,
            "profile": w.profile,
            "warmed_up": w.warmed_up,
            "batch_size": w.batch_size,
            "started_at": w.started_at.isoformat(),
            "last_seen_at": w.last_seen_at.isoformat(),
        }
        for w in inference_workers.seen_since(session, WORKER_FRESH_S)
    ]


def check_database(db_url: str) -> tuple[str, list[dict[str, Any]]]:
    """``"ok"`` and the workers seen in the last ``WORKER_FRESH_S`` seconds, or ``"error: <type>"``
    and no workers when the database cannot be read."""
    try:
        with session_scope(db_url) as session:
            session.execute(text("SELECT 1"))
            return "ok", _workers(session)
    except Exception as exc:
        return f"error: {type(exc).__name__}", []


def _profile(settings: Settings, names: list[str]) -> dict[str, str]:
    from moderation.inference.profiles import choose_profile

    chosen = choose_profile(settings.model_profile, names)
    return {"name": chosen.name, "reason": chosen.reason}


def check_engine(settings: Settings, timeout_s: float = 2.0) -> dict[str, Any]:
    """Which engine the workers use and the model profile they ask it with; with ``vllm``,
    whether its server answers and what it serves (``status``: ``ok`` or ``error: ...``)."""
    if settings.engine != "vllm":
        from moderation.inference.resolve import model_name

        model = model_name(settings)
        return {"kind": settings.engine, "model": model, "profile": _profile(settings, [model])}
    import httpx

    from moderation.inference.served import server_info
    from moderation.inference.types import EngineUnavailable

    key = settings.engine_api_key
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
    body: dict[str, Any] = {"kind": "vllm", "url": settings.engine_url}
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        try:
            info = server_info(client, settings.engine_url.rstrip("/"))
        except EngineUnavailable as exc:
            return {**body, "status": f"error: {exc}"}
    profile = _profile(settings, [info.root, info.served_model])
    return {
        **body,
        "status": "ok",
        "model": info.served_model,
        "vllm": info.version,
        "profile": profile,
    }
