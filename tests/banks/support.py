"""Helpers of the hash-bank tests: tenants, banks, near-duplicate images, the worker's flow."""

from __future__ import annotations

import io
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from moderation.inference.rubric import Rubric
from moderation.inference.types import ModerationRequest, Verdict
from moderation.storage.blobs import FileBlobStore
from moderation.submissions.moderation_flow import (
    FlowContext,
    FlowReport,
    moderate_submissions_flow,
)
from tests.support import images
from tests.support.db import rows


class CountingEngine:
    """A real engine that counts its model calls."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.calls: list[int] = []
        self.model_id, self.revision = engine.model_id, engine.revision

    def decoding_params(self, rubric: Rubric) -> dict[str, object]:
        return dict(self.engine.decoding_params(rubric))

    def ready(self) -> None:
        """In-process: always ready."""

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        self.calls.append(len(requests))
        return list(self.engine.moderate_batch(requests))


def tenant(db: str) -> tuple[str, uuid.UUID]:
    """A new tenant with a key holding every scope: (key, tenant id)."""
    from moderation.admin import create_tenant_key

    name = f"banks-{uuid.uuid4().hex[:8]}"
    key = create_tenant_key(db, name)
    (row,) = rows(db, "SELECT id FROM tenants WHERE name = :n", n=name)
    return key, row["id"]


def near_duplicate(img: Image.Image, quality: int = 70, scale: float = 0.9) -> bytes:
    """``img`` resized by ``scale`` and re-encoded as JPEG at ``quality``."""
    size = (round(img.width * scale), round(img.height * scale))
    out = io.BytesIO()
    img.resize(size, Image.Resampling.LANCZOS).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def create_bank(client: httpx.Client, action: str = "block", **extra: Any) -> str:
    """A new bank of the client's tenant; its id."""
    body = {"name": f"bank-{uuid.uuid4().hex[:6]}", "action": action, **extra}
    response = client.post("/v1/hash-banks", json=body)
    assert response.status_code == 201, response.text
    bank_id: str = response.json()["id"]
    return bank_id


def bank_image(client: httpx.Client, bank_id: str, data: bytes, **fields: str) -> dict[str, Any]:
    """Add an image file to a bank; the entry."""
    response = client.post(
        f"/v1/hash-banks/{bank_id}/entries",
        files={"image": ("x.png", data, "image/png")},
        data=fields,
    )
    assert response.status_code == 201, response.text
    entry: dict[str, Any] = response.json()
    return entry


def submit(client: httpx.Client, data: bytes, name: str = "x.jpg") -> uuid.UUID:
    """Upload an image for moderation; the submission id."""
    response = client.post("/v1/moderations", files={"image": (name, data, "image/jpeg")})
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["id"])


def run_flow(data_dir: Path, db: str, engine: Any, ids: list[uuid.UUID]) -> FlowReport:
    """The worker's flow on these submissions, in this process."""
    ctx = FlowContext(
        db_url=db, blobs=FileBlobStore(data_dir / "blobs"), max_pixels=10**7, max_attempts=3
    )
    return moderate_submissions_flow(ctx, engine, ids)


def photo_png(seed: int) -> bytes:
    """A structured picture as PNG."""
    return images.encode(images.photo(seed=seed), "PNG")
