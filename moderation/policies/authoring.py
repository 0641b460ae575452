"""Authoring flow: draft a rubric, diff it against the active version, publish, roll back.

Every step is audited with its author; policies are global, drafts remember who wrote them.
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
    """Who makes an authoring call: the tenant of the API key (None from the CLI) and a label."""

    tenant_id: uuid.UUID | None
    actor: str


class DraftNotFound(LookupError):
    """No draft with this id under this slug."""


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
    current = policy_repo.get_policy(session, slug)
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
    """A draft of ``slug`` that ``author``'s tenant wrote (any draft for the CLI, whose author
    has no tenant); DraftNotFound otherwise, also for another tenant's draft."""
    draft = policy_drafts.get(session, draft_id)
    if draft is None or draft.slug != slug or not _visible(author, draft.created_by_tenant_id):
        raise DraftNotFound(str(draft_id))
    return draft


def _visible(author: Author, owner: uuid.UUID | None) -> bool:
    return author.tenant_id is None or owner == author.tenant_id


def active_policy(session: Session, slug: str) -> Policy | None:
    """The active version's rubric, or None for a policy not published yet."""
    current = policy_repo.get_policy(session, slug)
    if current is None:
        return None
    row = policy_repo.get_version(session, current.active_version)
    assert row is not None, "the active version is a foreign key"
    return Policy.model_validate(row.content)


def diff_draft(session: Session, author: Author, draft: PolicyDraft) -> DraftDiff:
    """The change a publish of ``draft`` would make to the active version."""
    active = active_policy(session, draft.slug)
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


def _activate(session: Session, author: Author, slug: str, version: str, event: str) -> Activation:
    current = policy_repo.get_policy(session, slug)
    previous = None if current is None else current.active_version
    policy_repo.set_active(session, slug, version)
    audit_authoring(session, author, slug, event, {"version": version, "previous": previous})
    return Activation(slug, version, previous)


def publish_draft(session: Session, author: Author, draft: PolicyDraft) -> Activation:
    """Make the draft an immutable version and activate it: new submissions use it at once."""
    policy = draft_policy(draft)
    policy_repo.add_version(
        session, policy.version, policy.slug, policy.model_dump(mode="json"), policy.content_sha256
    )
    policy_drafts.mark_published(session, draft)
    return _activate(session, author, draft.slug, policy.version, "policy.published")


def roll_back(session: Session, author: Author, slug: str, version: str) -> Activation:
    """Activate an earlier version of ``slug`` again (UnknownPolicy for a foreign version)."""
    row = policy_repo.get_version(session, version)
    if row is None or row.slug != slug:
        raise UnknownPolicy(version)
    return _activate(session, author, slug, version, "policy.rolled_back")
