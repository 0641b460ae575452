"""Submissions stored straight through the domain, bypassing the API and the broker."""

from __future__ import annotations

from pathlib import Path

from moderation.domain.images import inspect_image
from moderation.domain.intake import accept_submission
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import session_scope
from moderation.storage.repositories import tenants
from tests.support import images


def accept_without_sending(
    db: str,
    blobs_dir: Path,
    seed: int,
    tenant: str = "direct",
    policy: str = "default",
    size: tuple[int, int] = (31, 29),
) -> tuple[str, int]:
    """A stored submission whose message never reached the broker; (submission id, outbox id)."""
    data = images.png(*size, seed=seed)
    info = inspect_image(data, max_bytes=10**6, max_pixels=10**6)
    with session_scope(db) as session:
        owner = tenants.get_by_name(session, tenant) or tenants.create(session, tenant)
        accepted = accept_submission(
            session,
            FileBlobStore(blobs_dir),
            tenant_id=owner.id,
            data=data,
            image=info,
            policy_slug=policy,
            external_id=None,
        )
    return str(accepted.submission.id), accepted.outbox_id
