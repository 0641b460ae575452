"""Per-process resources of a worker, created lazily in the process that runs tasks."""

from __future__ import annotations

import logging
from functools import lru_cache

from moderation.config import get_settings
from moderation.domain.moderation_flow import FlowContext
from moderation.inference.types import Engine
from moderation.storage.blobs import FileBlobStore

log = logging.getLogger(__name__)


def database_url() -> str:
    """The configured database URL (a clear error when missing)."""
    url = get_settings().database_url
    if not url:
        raise RuntimeError("MODERATION_DATABASE_URL is not set")
    return url


@lru_cache(maxsize=1)
def flow_context() -> FlowContext:
    """Database, blobs and limits for the moderation flow."""
    settings = get_settings()
    return FlowContext(
        db_url=database_url(),
        blobs=FileBlobStore(settings.resolved_blob_dir),
        max_pixels=settings.max_image_pixels,
        max_attempts=settings.max_attempts,
    )


@lru_cache(maxsize=1)
def engine() -> Engine:
    """The model, loaded once per worker process on first use (never in a prefork parent)."""
    from moderation.inference import load_engine
    from moderation.inference.resolve import resolve_model

    settings = get_settings()
    model, _ = resolve_model(settings)
    loaded = load_engine(
        model,
        revision=settings.model_revision,
        device=settings.device,
        dtype=settings.dtype,
        warm_up=True,
    )
    log.info(
        "model %s (%s) on %s/%s warmed up",
        loaded.model_id,
        loaded.revision,
        loaded.device,
        loaded.dtype,
    )
    return loaded
