"""A tenant's retention setting, and deleting a tenant's images and personal data."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.accounts import tenant_repository as tenants
from moderation.accounts.models import Tenant
from moderation.config import Settings
from moderation.retention import repository as retention
from moderation.retention.purge import collect_blobs
from moderation.storage.blobs import BlobStore
from moderation.storage.db import session_scope


def _tenant(session: Session, name: str) -> Tenant:
    tenant = tenants.get_by_name(session, name)
    if tenant is None:
        raise ValueError(f"no tenant '{name}'")
    return tenant


def set_image_retention(db_url: str, name: str, days: int | None) -> None:
    """Keep the tenant's images ``days`` days (None: the service default)."""
    if days is not None and days < 0:
        raise ValueError("--image-retention-days must be 0 or more")
    with session_scope(db_url) as session:
        retention.set_retention_days(session, _tenant(session, name).id, days)


@dataclass(frozen=True)
class TenantErased:
    """What deleting a tenant removed and kept."""

    images: int
    blobs_deleted: int
    cleared: dict[str, int]  # personal fields cleared per kind
    kept: dict[str, int]  # what stays (audit chain, aggregate counts)

    def describe(self) -> str:
        """Lines for the CLI."""
        removed = ", ".join(f"{n} {kind}" for kind, n in self.cleared.items())
        kept = ", ".join(f"{n} {kind}" for kind, n in self.kept.items())
        return (
            f"deleted {self.images} images ({self.blobs_deleted} blobs; shared ones stay for "
            f"their other submissions)\ncleared: {removed}\nkept: {kept}"
        )


def delete_tenant(db_url: str, blobs: BlobStore, settings: Settings, name: str) -> TenantErased:
    """Delete a tenant's images and personal data (external ids, appeal reasons and notes,
    review notes, idempotency keys; its API keys are revoked and its console users and
    webhook endpoints removed); keep its audit chain and aggregate counts. Refused while an
    image of the tenant is under a legal hold."""
    with session_scope(db_url) as session:
        tenant = _tenant(session, name)
        held = retention.held_count(session, tenant.id)
        if held:
            raise ValueError(
                f"tenant '{name}' has {held} images under a legal hold; release them first"
            )
        erased = retention.mark_tenant_erased(session, tenant.id)
        cleared = retention.clear_personal_data(session, tenant.id)
        kept = retention.kept_counts(session, tenant.id)
    deleted, _ = collect_blobs(db_url, blobs, settings.image_purge_batch, [s for _, s in erased])
    return TenantErased(len(erased), deleted, cleared, kept)
