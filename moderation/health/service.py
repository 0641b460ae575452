"""Health checks that read the database: it answers, and which inference workers it saw."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

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
