"""Response and request schemas of the policy endpoints (separate from the ORM tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from moderation.domain.backtest_report import Report
from moderation.domain.backtests import BacktestStatus
from moderation.domain.policy_authoring import Activation, DraftDiff
from moderation.inference.preview import PromptPreview
from moderation.storage.models import PolicyDraft, PolicyVersion


class VersionSummary(BaseModel):
    version: str
    created_at: datetime
    active: bool


class VersionOut(VersionSummary):
    slug: str
    content_sha256: str
    content: dict[str, Any] = Field(description="the full rubric, as validated")


class PolicyOut(BaseModel):
    slug: str
    active_version: str
    updated_at: datetime
    content: dict[str, Any] = Field(description="the rubric of the active version")
    versions: list[VersionSummary] | None = None


class PolicyList(BaseModel):
    policies: list[PolicyOut]


class DraftIn(BaseModel):
    yaml: str = Field(min_length=1, max_length=200_000, description="the rubric as YAML")


class DraftOut(BaseModel):
    id: uuid.UUID
    slug: str
    version: str = Field(description="the version id it gets when published")
    base_version: str | None = Field(description="the active version when it was drafted")
    content: dict[str, Any]
    created_by: str
    created_at: datetime
    published_at: datetime | None


class DiffOut(BaseModel):
    against: str | None = Field(description="the active version (None: not published yet)")
    draft_version: str
    diff: str = Field(description="unified diff of the canonical YAML")


class PromptOut(BaseModel):
    model: str
    text: str = Field(description="the exact prompt, chat template applied")
    sha256: str
    image_placeholder: str
    text_tokens: int = Field(description="tokens with the placeholder counted once")
    tokens_with_image: int = Field(description="tokens once a 512x512 image is expanded")


class ActivationOut(BaseModel):
    slug: str
    version: str
    previous: str | None


class RollbackIn(BaseModel):
    version: str = Field(min_length=1, max_length=80)


class BacktestIn(BaseModel):
    source: Literal["reviews"] = Field(
        default="reviews",
        description="reviewed submissions (labelled folders: `moderation policies backtest`)",
    )
    limit: int = Field(default=500, ge=1, le=50_000)


class BacktestOut(BaseModel):
    id: uuid.UUID
    slug: str
    draft_id: uuid.UUID
    baseline_version: str | None
    source: str
    dataset: str | None
    state: Literal["running", "done"]
    total: int
    done: int
    failed: int
    eta_s: float | None
    created_by: str
    created_at: datetime
    report: Report


def version_out(row: PolicyVersion, active: str) -> VersionOut:
    """The public view of a policy version."""
    return VersionOut(
        slug=row.slug,
        version=row.version,
        content_sha256=row.content_sha256,
        content=row.content,
        created_at=row.created_at,
        active=row.version == active,
    )


def draft_out(draft: PolicyDraft) -> DraftOut:
    """The public view of a draft."""
    return DraftOut.model_validate(draft, from_attributes=True)


def diff_out(diff: DraftDiff) -> DiffOut:
    """The public view of a diff."""
    return DiffOut(against=diff.against, draft_version=diff.draft_version, diff=diff.diff)


def prompt_out(preview: PromptPreview) -> PromptOut:
    """The public view of a prompt preview."""
    return PromptOut.model_validate(preview, from_attributes=True)


def activation_out(activation: Activation) -> ActivationOut:
    """The public view of a publish or rollback."""
    return ActivationOut.model_validate(activation, from_attributes=True)


def backtest_out(status: BacktestStatus) -> BacktestOut:
    """The public view of a backtest run: progress and report."""
    run = status.run
    return BacktestOut(
        id=run.id,
        slug=run.slug,
        draft_id=run.draft_id,
        baseline_version=run.baseline_version,
        source=run.source,
        dataset=run.dataset,
        state=status.state,  # type: ignore[arg-type]
        total=run.total,
        done=status.done,
        failed=status.failed,
        eta_s=status.eta_s,
        created_by=run.created_by,
        created_at=run.created_at,
        report=status.report,
    )
