"""Policy pages for policy authors: the policies the viewer's tenant uses (its own and the
global ones), their versions, a diff of two versions, drafts with "start backtest" and
"publish", rollback, and a backtest's progress and report. Drafts themselves are written through
the API or CLI.

A tenant's author publishes and rolls back its tenant's own policies; the global ones change
only by an admin without a tenant (or the CLI). Publish and rollback show the diff first and
act on a second, confirming request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from moderation.accounts.users import ReviewerSession
from moderation.console.auth import Forbidden, PolicyAuthorDep
from moderation.console.render import error_page, render
from moderation.policies import authoring, backtests
from moderation.policies.authoring import Author, DraftNotFound, diff_versions, get_draft
from moderation.policies.catalog import UnknownPolicy
from moderation.policies.prompt_preview import preview_draft
from moderation.policies.reading import (
    PolicyVersions,
    authors_work,
    policy_versions,
    usable_policies,
    version_of,
)
from moderation.storage.db import read_scope, session_scope
from moderation.web.deps import DbUrlDep, SettingsDep

router = APIRouter(prefix="/policies")
BACKTEST_LIMIT = 500  # latest reviewed submissions a console backtest measures
ScopeQuery = Annotated[str | None, Query(pattern="^(tenant|global)$")]


def _author(user: ReviewerSession) -> Author:
    return Author(user.tenant_id, f"user:{user.email}")


def may_change(user: ReviewerSession, found: PolicyVersions) -> bool:
    """Whether ``user`` may publish to or roll back this policy: a tenant's own policy by
    that tenant's authors; a global one by an admin without a tenant."""
    if found.policy.tenant_id is None:
        return user.tenant_id is None and user.has_role("admin")
    return found.policy.tenant_id == user.tenant_id


def _changer(user: ReviewerSession) -> Author:
    """The author of a publish or rollback (Forbidden for an author without a tenant who is
    not an admin: the global policies are the operator's)."""
    if not may_publish(user):
        raise Forbidden(
            "global policies change only by an admin without a tenant (or the CLI); "
            "an account of a tenant publishes that tenant's own policies"
        )
    return _author(user)


def may_publish(user: ReviewerSession) -> bool:
    """Whether ``user`` may publish its drafts: those of its tenant, or the global ones for
    an admin without a tenant."""
    return user.tenant_id is not None or user.has_role("admin")


def _policy_page(
    request: Request,
    user: ReviewerSession,
    session: Session,
    slug: str,
    status_code: int = 200,
    scope: str | None = None,
    **extra: Any,
) -> Response:
    found = policy_versions(session, user.tenant_id, slug, scope)
    if found is None:
        return error_page(request, user, 404, f"no policy '{slug}'")
    work = authors_work(session, slug, user.tenant_id)
    context: dict[str, Any] = {"diff": None, "error": None, "a": "", "b": ""} | extra
    return render(
        request,
        "policy.html",
        user,
        status_code,
        slug=slug,
        policy=found.policy,
        active=found.policy.active_version,
        versions=found.versions,
        may_change=may_change(user, found),
        may_publish=may_publish(user),
        shadowed=_shadowed(session, user, found),
        drafts=work.drafts,
        runs=work.runs,
        **context,
    )


def _shadowed(session: Session, user: ReviewerSession, found: PolicyVersions) -> bool:
    """Whether ``found`` is a global policy the user's tenant replaces with its own."""
    if found.policy.tenant_id is not None or user.tenant_id is None:
        return False
    return policy_versions(session, user.tenant_id, found.policy.slug, "tenant") is not None


@router.get("", name="policies")
def policies_page(request: Request, user: PolicyAuthorDep, db_url: DbUrlDep) -> Response:
    """The policies the viewer's tenant uses (its own, the global ones), with their versions."""
    found = usable_policies(db_url, user.tenant_id)
    own = {p.policy.slug for p in found if p.policy.tenant_id is not None}
    rows = [
        (p.policy, p.active, p.versions, p.policy.tenant_id is None and p.policy.slug in own)
        for p in found
    ]
    return render(request, "policies.html", user, rows=rows)


@router.get("/{slug}", name="policy")
def policy_page(
    request: Request, slug: str, user: PolicyAuthorDep, db_url: DbUrlDep, scope: ScopeQuery = None
) -> Response:
    """A policy's versions, drafts and backtests: the one the viewer's tenant uses, or the
    ``global``/``tenant`` one when ``scope`` says."""
    with read_scope(db_url) as session:
        return _policy_page(request, user, session, slug, scope=scope)


@router.get("/{slug}/diff", name="policy_diff")
def policy_diff(
    request: Request,
    slug: str,
    user: PolicyAuthorDep,
    db_url: DbUrlDep,
    a: str = Query(max_length=80),
    b: str = Query(max_length=80),
    scope: ScopeQuery = None,
) -> Response:
    """A unified diff of versions ``a`` and ``b`` of the policy."""
    with read_scope(db_url) as session:
        found = [version_of(session, user.tenant_id, slug, v) for v in (a, b)]
        if any(v is None for v in found):
            message = f"both versions must be versions of '{slug}'"
            return _policy_page(request, user, session, slug, 404, scope, error=message, a=a, b=b)
        before, after = (v for v in found if v is not None)
        diff = diff_versions(before, after)
        return _policy_page(request, user, session, slug, scope=scope, diff=diff, a=a, b=b)


@router.get("/{slug}/versions/{version}", name="policy_version_page")
def version_page(
    request: Request, slug: str, version: str, user: PolicyAuthorDep, db_url: DbUrlDep
) -> Response:
    """One version rendered for people, with what differs from the version in use."""
    with read_scope(db_url) as session:
        row = version_of(session, user.tenant_id, slug, version[:80])
        found = policy_versions(session, user.tenant_id, slug)
        if row is None or found is None:
            return error_page(request, user, 404, f"no version '{version[:80]}' of '{slug}'")
        diff = diff_versions(found.active, row)
        return render(
            request,
            "policy_version.html",
            user,
            slug=slug,
            row=row,
            in_use=found.active.version,
            may_change=may_change(user, found)
            and any(v.version == row.version for v in found.versions),
            diff=diff,
        )


@router.get("/{slug}/drafts/{draft_id}", name="policy_draft_page")
def draft_page(
    request: Request,
    slug: str,
    draft_id: uuid.UUID,
    user: PolicyAuthorDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
) -> Response:
    """A draft rendered for people: its diff against the version in use, the exact prompt
    the configured model would read (audited, as in the API), backtest and publish."""
    author = _author(user)
    try:
        with session_scope(db_url) as session:
            draft = get_draft(session, author, slug, draft_id)
            diff = authoring.diff_draft(session, author, draft)
        prompt = preview_draft(db_url, settings, author, slug, draft_id)
    except DraftNotFound:
        return error_page(request, user, 404, f"no draft '{draft_id}' of '{slug}'")
    return render(
        request,
        "policy_draft.html",
        user,
        slug=slug,
        draft=draft,
        diff=diff,
        prompt=prompt,
        may_publish=may_publish(user),
    )


@router.post("/{slug}/drafts/{draft_id}/backtests", name="console_start_backtest")
def start_backtest(
    request: Request,
    slug: str,
    draft_id: uuid.UUID,
    user: PolicyAuthorDep,
    db_url: DbUrlDep,
    settings: SettingsDep,
) -> Response:
    """Backtest a draft over the latest reviewed submissions (the viewer's tenant's, if
    scoped); then the report page."""
    author = _author(user)
    try:
        with session_scope(db_url) as session:
            draft = get_draft(session, author, slug, draft_id)
            images = backtests.reviewed_images(session, slug, BACKTEST_LIMIT, user.tenant_id)
            run, _ = backtests.start_backtest(
                session, author, draft, images, source="reviews", chunk_size=settings.batch_size
            )
            run_id = run.id
    except DraftNotFound:
        return error_page(request, user, 404, f"no draft '{draft_id}' of '{slug}'")
    except backtests.NothingToBacktest as exc:
        with read_scope(db_url) as session:
            return _policy_page(request, user, session, slug, 422, error=str(exc))
    target = request.url_for("backtest", slug=slug, run_id=run_id).path
    return RedirectResponse(target, status_code=303)


def _confirm_page(
    request: Request, user: ReviewerSession, slug: str, action: str, version: str, diff: str
) -> Response:
    return render(
        request, "policy_confirm.html", user, slug=slug, action=action, version=version, diff=diff
    )


@router.get("/{slug}/drafts/{draft_id}/publish", name="console_publish_confirm")
def publish_confirm(
    request: Request, slug: str, draft_id: uuid.UUID, user: PolicyAuthorDep, db_url: DbUrlDep
) -> Response:
    """What publishing the draft changes (its diff against the version in use) and a button
    that confirms it."""
    author = _changer(user)
    try:
        with session_scope(db_url) as session:
            draft = get_draft(session, author, slug, draft_id)
            diff = authoring.diff_draft(session, author, draft)
    except DraftNotFound:
        return error_page(request, user, 404, f"no draft '{draft_id}' of '{slug}'")
    return _confirm_page(request, user, slug, "publish", diff.draft_version, diff.diff)


def _change(
    request: Request,
    user: ReviewerSession,
    db_url: str,
    slug: str,
    change: Callable[[Session, Author], None],
    missing: str,
) -> Response:
    """Run a publish or rollback as ``user`` (Forbidden for a global policy it may not
    change), then the policy page; a 404 page saying ``missing`` when its target is not
    the user's."""
    author = _changer(user)
    try:
        with session_scope(db_url) as session:
            change(session, author)
    except (DraftNotFound, UnknownPolicy):
        return error_page(request, user, 404, missing)
    return RedirectResponse(request.url_for("policy", slug=slug).path, status_code=303)


@router.post("/{slug}/drafts/{draft_id}/publish", name="console_publish")
def publish(
    request: Request, slug: str, draft_id: uuid.UUID, user: PolicyAuthorDep, db_url: DbUrlDep
) -> Response:
    """Publish the draft under its owner's policy (audited); then the policy page."""

    def change(session: Session, author: Author) -> None:
        authoring.publish_draft(session, author, get_draft(session, author, slug, draft_id))

    return _change(request, user, db_url, slug, change, f"no draft '{draft_id}' of '{slug}'")


@router.get("/{slug}/rollback", name="console_rollback_confirm")
def rollback_confirm(
    request: Request,
    slug: str,
    user: PolicyAuthorDep,
    db_url: DbUrlDep,
    version: str = Query(max_length=80),
) -> Response:
    """What rolling back to ``version`` changes and a button that confirms it."""
    author = _changer(user)
    with read_scope(db_url) as session:
        found = policy_versions(session, author.tenant_id, slug, author.scope)
        target = (
            None
            if found is None
            else next((v for v in found.versions if v.version == version), None)
        )
        if found is None or target is None:
            return error_page(request, user, 404, f"no version '{version}' of your '{slug}'")
        diff = diff_versions(found.active, target)
    return _confirm_page(request, user, slug, "rollback", version, diff)


@router.post("/{slug}/rollback", name="console_rollback")
def rollback(
    request: Request,
    slug: str,
    user: PolicyAuthorDep,
    db_url: DbUrlDep,
    version: Annotated[str, Form(max_length=80)],
) -> Response:
    """Activate again a version released under the owner's policy (audited)."""

    def change(session: Session, author: Author) -> None:
        authoring.roll_back(session, author, slug, version)

    return _change(request, user, db_url, slug, change, f"no version '{version}' of your '{slug}'")


@router.get("/{slug}/backtests/{run_id}", name="backtest")
def backtest_page(
    request: Request, slug: str, run_id: uuid.UUID, user: PolicyAuthorDep, db_url: DbUrlDep
) -> Response:
    """A backtest's progress and its report so far (reading it is audited, as in the API)."""
    author = _author(user)
    try:
        with session_scope(db_url) as session:
            draft, status = backtests.read_backtest(session, author, slug, run_id)
            return render(request, "backtest.html", user, slug=slug, draft=draft, status=status)
    except (backtests.BacktestNotFound, DraftNotFound):
        return error_page(request, user, 404, f"no backtest '{run_id}' of '{slug}'")
