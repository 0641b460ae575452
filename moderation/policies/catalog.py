"""The policies the service knows: syncing rubric files into versions, resolving the active one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.policies import repository as policy_repo
from moderation.policies.format import Policy, load_policy_dir


class UnknownPolicy(LookupError):
    """No policy with this slug exists."""


@dataclass(frozen=True)
class SyncResult:
    """What ``sync_policies`` changed, per slug: the version and whether it was new/activated."""

    slug: str
    version: str
    created: bool
    activated: bool


def sync_policies(session: Session, directory: Path) -> list[SyncResult]:
    """Load ``directory/*.yaml`` as versions of the global policies (a no-op when unchanged).

    A file's version is activated when the global policy never had it, or when the global
    policy does not exist yet: an unchanged file never undoes a publish or rollback made by
    an operator through the authoring flow. Tenants' own policies are never touched.
    """
    results = []
    for policy in load_policy_dir(directory):
        content = policy.model_dump(mode="json")
        current = policy_repo.owned(session, None, policy.slug)
        created = policy_repo.add_version(
            session, policy.version, policy.slug, content, policy.content_sha256
        )
        released = (
            current is not None
            and policy_repo.released_under(session, current, policy.version) is not None
        )
        activated = not released and policy_repo.set_active(
            session, None, policy.slug, policy.version
        )
        if created or activated:
            audit.append(
                session,
                tenant_id=None,
                subject_type="policy",
                subject_id=policy.slug,
                event="policy.synced",
                actor="system:policies-sync",
                data={"version": policy.version, "created": created, "activated": activated},
            )
        results.append(SyncResult(policy.slug, policy.version, created, activated))
    return results


def policy_version(session: Session, version: str) -> Policy:
    """The content of one immutable version."""
    row = policy_repo.get_version(session, version)
    if row is None:
        raise UnknownPolicy(version)
    return Policy.model_validate(row.content)
