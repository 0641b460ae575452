"""Authoring flow: draft a rubric, diff it against the active version, publish, roll back.

A draft belongs to the tenant its author acts for, or to nobody (global: the operator's, from
the CLI or a console admin without a tenant). Publishing it activates its version under the
policy of that owner, created on first publish, so a tenant's draft based on a global policy
becomes the tenant's own policy of the slug and leaves the global one untouched. Every step is
audited in the owner's chain, with its author.
"""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.policies import draft_repository as policy_drafts
from moderation.policies import repository as policy_repo
from moderation.policies.catalog import UnknownPolicy
from moderation.policies.format import Policy, PolicyInvalid, PolicyProblem, parse_policy
from moderation.policies.models import PolicyDraft, PolicyVersion
from moderation.policies.yaml_lines import locate


@dataclass(frozen=True)
class Author:
    """Who makes an authoring call: the tenant whose policies it changes (None: the global
    ones, which only the operator may change) and a label for the audit trail."""

    tenant_id: uuid.UUID | None
    actor: str

    @property
    def scope(self) -> str:
        """``global`` or ``tenant``: the kind of policy this author changes."""
        return "global" if self.tenant_id is None else "tenant"


class DraftNotFound(LookupError):
    """No draft with this id under this slug (or one of another owner)."""


class GlobalPolicyForbidden(PermissionError):
    """A tenant's author asked to change a global policy."""

    def __init__(self) -> None:
        super().__init__(
            "global policies are the operator's: they change from the CLI "
            "(moderation policies) or by a console admin without a tenant; "
            "a tenant publishes its own policy of the same slug instead (scope 'tenant')"
        )


def check_scope(author: Author, scope: str) -> None:
    """GlobalPolicyForbidden when a tenant's author asks for the ``global`` scope."""
    if scope == "global" and author.tenant_id is not None:
        raise GlobalPolicyForbidden


@dataclass(frozen=True)
class DraftDiff:
    """A unified diff of the canonical YAML of the active version (``against``) and a draft."""

    against: str | None
    draft_version: str
    diff: str


@dataclass(frozen=True)
class Activation:
    """The version a publish or rollback made active, and the one it replaced."""

    slug: str
    version: str
    previous: str | None
    scope: str  # ``tenant`` or ``global``: whose policy it activated


def audit_authoring(
    session: Session, author: Author, slug: str, event: str, data: dict[str, Any]
) -> None:
    """Append one audit event of a policy authoring call."""
    audit.append(
        session,
        tenant_id=author.tenant_id,
        subject_type="policy",
        subject_id=slug,
        event=event,
        actor=author.actor,
        data=data,
    )


def canonical_yaml(policy: Policy) -> str:
    """The content as YAML in field order: what diffs compare."""
    return yaml.safe_dump(
        policy.model_dump(mode="json"), sort_keys=False, allow_unicode=True, width=100
    )


def draft_policy(draft: PolicyDraft) -> Policy:
    """The validated rubric of a draft."""
    return Policy.model_validate(draft.content)


def create_draft(session: Session, author: Author, slug: str, source_yaml: str) -> PolicyDraft:
    """Validate ``source_yaml`` (PolicyInvalid) as a draft of ``slug`` and store it."""
    policy = parse_policy(source_yaml)
    if policy.slug != slug:
        message = f"must be '{slug}', the policy this draft is created under"
        raise PolicyInvalid(
            [PolicyProblem("slug", locate(source_yaml).line_of(("slug",)), message)]
        )
    current = policy_repo.in_effect(session, author.tenant_id, slug)
    draft = policy_drafts.add(
        session,
        slug=slug,
        version=policy.version,
        content=policy.model_dump(mode="json"),
        source_yaml=source_yaml,
        base_version=None if current is None else current.active_version,
        tenant_id=author.tenant_id,
        created_by=author.actor,
    )
    data = {"draft_id": str(draft.id), "version": draft.version, "base": draft.base_version}
    audit_authoring(session, author, slug, "policy.draft_created", data)
    return draft


def get_draft(session: Session, author: Author, slug: str, draft_id: uuid.UUID) -> PolicyDraft:
    """A draft of ``slug`` of ``author``'s owner (the global drafts for an author without a
    tenant); DraftNotFound otherwise, also for another tenant's draft."""
    draft = policy_drafts.get(session, draft_id)
    if draft is None or draft.slug != slug or draft.created_by_tenant_id != author.tenant_id:
        raise DraftNotFound(str(draft_id))
    return draft


def active_policy(session: Session, tenant_id: uuid.UUID | None, slug: str) -> Policy | None:
    """The rubric the tenant's submissions of ``slug`` use now (its own, else the global
    one), or None for a policy not published yet."""
    current = policy_repo.in_effect(session, tenant_id, slug)
    if current is None:
        return None
    row = policy_repo.get_version(session, current.active_version)
    assert row is not None, "the active version is a foreign key"
    return Policy.model_validate(row.content)


def diff_draft(session: Session, author: Author, draft: PolicyDraft) -> DraftDiff:
    """The change a publish of ``draft`` would make to the rubric its owner uses now."""
    active = active_policy(session, draft.created_by_tenant_id, draft.slug)
    before = canonical_yaml(active) if active else ""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        canonical_yaml(draft_policy(draft)).splitlines(keepends=True),
        fromfile=active.version if active else "(none)",
        tofile=draft.version,
    )
    result = DraftDiff(None if active is None else active.version, draft.version, "".join(lines))
    data = {"draft_id": str(draft.id), "against": result.against}
    audit_authoring(session, author, draft.slug, "policy.draft_diffed", data)
    return result


def diff_versions(before: PolicyVersion, after: PolicyVersion) -> str:
    """A unified diff of the canonical YAML of two stored versions."""
    texts = [canonical_yaml(Policy.model_validate(v.content)) for v in (before, after)]
    lines = difflib.unified_diff(
        texts[0].splitlines(keepends=True),
        texts[1].splitlines(keepends=True),
        fromfile=before.version,
        tofile=after.version,
    )
    return "".join(lines)


def _activate(
    session: Session, author: Author, owner: Author, slug: str, version: str, event: str
) -> Activation:
    """Activate ``version`` under ``owner``'s policy ``slug``, audited in the owner's chain."""
    current = policy_repo.in_effect(session, owner.tenant_id, slug)
    previous = None if current is None else current.active_version
    policy_repo.set_active(session, owner.tenant_id, slug, version)
    data = {"slug": slug, "version": version, "previous": previous, "scope": owner.scope}
    audit_authoring(session, Author(owner.tenant_id, author.actor), slug, event, data)
    return Activation(slug, version, previous, owner.scope)


def publish_draft(session: Session, author: Author, draft: PolicyDraft) -> Activation:
    """Make the draft an immutable version and activate it under the policy of the draft's
    owner (created when the owner had none): its new submissions use it at once."""
    policy = draft_policy(draft)
    policy_repo.add_version(
        session, policy.version, policy.slug, policy.model_dump(mode="json"), policy.content_sha256
    )
    policy_drafts.mark_published(session, draft)
    owner = Author(draft.created_by_tenant_id, author.actor)
    return _activate(session, author, owner, draft.slug, policy.version, "policy.published")


def roll_back(session: Session, author: Author, slug: str, version: str) -> Activation:
    """Activate again a version released earlier under the author's own policy ``slug``
    (UnknownPolicy for any other version, also a global one or another tenant's)."""
    own = policy_repo.owned(session, author.tenant_id, slug)
    if own is None or policy_repo.released_under(session, own, version) is None:
        raise UnknownPolicy(version)
    return _activate(session, author, author, slug, version, "policy.rolled_back")
