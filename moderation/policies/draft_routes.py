"""Policy authoring: drafts, their diff and prompt, publish and roll back (all audited)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter
from sqlalchemy.orm import Session

from moderation.policies import authoring
from moderation.policies.access import AuthorDep, policy_not_found
from moderation.policies.catalog import UnknownPolicy
from moderation.policies.format import PolicyInvalid
from moderation.policies.prompt_preview import preview_draft
from moderation.policies.schemas import (
    ActivationOut,
    DiffOut,
    DraftIn,
    DraftOut,
    PromptOut,
    RollbackIn,
    activation_out,
    diff_out,
    draft_out,
    prompt_out,
)
from moderation.storage.db import session_scope
from moderation.web.deps import DbUrlDep, SettingsDep
from moderation.web.errors import ApiError

router = APIRouter()


@contextmanager
def authoring_scope(db_url: str) -> Iterator[Session]:
    """A unit of work whose domain errors become API errors (422 invalid policy, 404, 403 for
    a global policy)."""
    try:
        with session_scope(db_url) as session:
            yield session
    except PolicyInvalid as exc:
        raise ApiError(422, "invalid_policy", str(exc)) from exc
    except authoring.GlobalPolicyForbidden as exc:
        raise ApiError(403, "forbidden", str(exc)) from exc
    except authoring.DraftNotFound as exc:
        raise policy_not_found(f"no draft '{exc}' of this policy") from exc
    except UnknownPolicy as exc:
        raise policy_not_found(f"no version '{exc}' of this policy") from exc


@router.post("/{slug}/drafts", status_code=201, response_model=DraftOut, summary="Create a draft")
def create_draft(slug: str, body: DraftIn, author: AuthorDep, db_url: DbUrlDep) -> DraftOut:
    """Validate a rubric (422 with field paths and lines) and store it as a draft of the
    tenant's own policy ``slug`` (which publishing creates, when the tenant uses the global
    one so far)."""
    with authoring_scope(db_url) as session:
        authoring.check_scope(author, body.scope)
        return draft_out(authoring.create_draft(session, author, slug, body.yaml))


@router.get("/{slug}/drafts/{draft_id}", response_model=DraftOut, summary="Read a draft")
def get_draft(slug: str, draft_id: uuid.UUID, author: AuthorDep, db_url: DbUrlDep) -> DraftOut:
    """A draft and its full content."""
    with authoring_scope(db_url) as session:
        draft = authoring.get_draft(session, author, slug, draft_id)
        authoring.audit_authoring(
            session, author, slug, "policy.draft_read", {"draft_id": str(draft_id)}
        )
        return draft_out(draft)


@router.get(
    "/{slug}/drafts/{draft_id}/diff", response_model=DiffOut, summary="Diff against the active"
)
def diff_draft(slug: str, draft_id: uuid.UUID, author: AuthorDep, db_url: DbUrlDep) -> DiffOut:
    """A unified diff of the active version's canonical YAML and the draft's."""
    with authoring_scope(db_url) as session:
        return diff_out(
            authoring.diff_draft(
                session, author, authoring.get_draft(session, author, slug, draft_id)
            )
        )


@router.get(
    "/{slug}/drafts/{draft_id}/prompt", response_model=PromptOut, summary="Preview the prompt"
)
def preview_draft_prompt(
    slug: str, draft_id: uuid.UUID, author: AuthorDep, db_url: DbUrlDep, settings: SettingsDep
) -> PromptOut:
    """The exact prompt the configured model reads for this draft, and its token counts."""
    with authoring_scope(db_url):
        preview = preview_draft(db_url, settings, author, slug, draft_id)
    return prompt_out(preview)


@router.post(
    "/{slug}/drafts/{draft_id}/publish", response_model=ActivationOut, summary="Publish a draft"
)
def publish_draft(
    slug: str, draft_id: uuid.UUID, author: AuthorDep, db_url: DbUrlDep
) -> ActivationOut:
    """Make the draft a version and activate it under the tenant's own policy: the tenant's
    new submissions use it at once; other tenants' are untouched."""
    with authoring_scope(db_url) as session:
        draft = authoring.get_draft(session, author, slug, draft_id)
        return activation_out(authoring.publish_draft(session, author, draft))


@router.post("/{slug}/rollback", response_model=ActivationOut, summary="Roll back")
def roll_back(slug: str, body: RollbackIn, author: AuthorDep, db_url: DbUrlDep) -> ActivationOut:
    """Activate again a version released earlier under the tenant's own policy ``slug``."""
    with authoring_scope(db_url) as session:
        authoring.check_scope(author, body.scope)
        return activation_out(authoring.roll_back(session, author, slug, body.version))
