"""Submissions stored straight through the domain, bypassing the API: no message is published
here (an outbox relay listening on the database, like the suite's API, still sends them)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from moderation.accounts import tenant_repository as tenants
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import session_scope
from moderation.submissions.images import ImageInfo, inspect_image
from moderation.submissions.intake import Replayed, accept_submission
from moderation.submissions.types import Received
from tests.support import images


def _owner(session: Session, tenant: str) -> uuid.UUID:
    """The tenant of this name (made if new)."""
    return (tenants.get_by_name(session, tenant) or tenants.create(session, tenant)).id


def _accept(
    session: Session,
    blobs_dir: Path,
    data: bytes,
    owner: uuid.UUID,
    policy: str,
    info: ImageInfo | None = None,
) -> Received:
    received = accept_submission(
        session,
        FileBlobStore(blobs_dir),
        tenant_id=owner,
        data=data,
        image=info or inspect_image(data, max_bytes=10**7, max_pixels=10**7),
        policy_slug=policy,
        external_id=None,
    )
    assert not isinstance(received, Replayed)
    return received


def accept_data(
    db: str,
    blobs_dir: Path,
    data: bytes,
    tenant: str = "direct",
    policy: str = "default",
    info: ImageInfo | None = None,
) -> Received:
    """One submission of these image bytes (checked as intake checks them, unless ``info``
    says what the check found), in a transaction of its own."""
    with session_scope(db) as session:
        return _accept(session, blobs_dir, data, _owner(session, tenant), policy, info)


def accept_many(
    db: str,
    blobs_dir: Path,
    seeds: Sequence[int],
    tenant: str = "direct",
    policy: str = "default",
    size: tuple[int, int] = (31, 29),
    sizes: Mapping[int, tuple[int, int]] | None = None,
) -> list[tuple[str, int]]:
    """Store one PNG submission per seed in ONE transaction (of ``size``, or of ``sizes[seed]``
    where given); [(submission id, outbox id)]."""
    made = []
    with session_scope(db) as session:
        owner = _owner(session, tenant)  # made even for no seeds
        for seed in seeds:
            data = images.png(*(sizes or {}).get(seed, size), seed=seed)
            received = _accept(session, blobs_dir, data, owner, policy)
            outbox_id = session.execute(
                text("SELECT id FROM outbox WHERE args->>'submission_id' = :s"),
                {"s": str(received.id)},
            ).scalar_one()
            made.append((str(received.id), int(outbox_id)))
    return made


def accept_without_sending(
    db: str,
    blobs_dir: Path,
    seed: int,
    tenant: str = "direct",
    policy: str = "default",
    size: tuple[int, int] = (31, 29),
) -> tuple[str, int]:
    """One stored submission; (submission id, outbox id)."""
    (made,) = accept_many(db, blobs_dir, [seed], tenant, policy, size)
    return made
