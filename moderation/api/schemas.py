"""Response schemas (separate from the ORM tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from moderation.domain.images import ImageInfo
from moderation.storage.models import Decision, Image, Submission
from moderation.storage.repositories.submissions import Received


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class PolicyRef(BaseModel):
    slug: str
    version: str


class ImageOut(BaseModel):
    sha256: str
    width: int
    height: int
    format: str


class ScoresOut(BaseModel):
    unsafe: float = Field(description="P(unsafe) read from the model's token distribution")
    categories: dict[str, float] = Field(description="P(category), every category plus 'none'")


class ModelRef(BaseModel):
    id: str
    revision: str


class DecisionOut(BaseModel):
    action: Literal["allow", "review", "block"]
    rating: Literal["safe", "unsafe"]
    category: str | None
    rationale: str
    scores: ScoresOut
    decided_by: Literal["model", "reviewer"]
    source: Literal["model", "cache"] = Field(
        description="'cache': the verdict was reused from an identical earlier request "
        "(same image bytes, policy version, model revision and decoding)"
    )
    model: ModelRef
    decided_at: datetime


class ModerationOut(BaseModel):
    id: uuid.UUID
    status: Literal["queued", "processing", "decided", "failed"]
    external_id: str | None
    image: ImageOut
    policy: PolicyRef
    decision: DecisionOut | None
    error: str | None
    created_at: datetime


def _slug_of(version: str) -> str:
    return version.rsplit("-", 1)[0]


def decision_out(decision: Decision) -> DecisionOut:
    """The public view of a decision row."""
    return DecisionOut(
        action=decision.action,  # type: ignore[arg-type]
        rating=decision.rating,  # type: ignore[arg-type]
        category=decision.category,
        rationale=decision.rationale,
        scores=ScoresOut.model_validate(decision.scores),
        decided_by=decision.decided_by,  # type: ignore[arg-type]
        source=decision.source,  # type: ignore[arg-type]
        model=ModelRef(id=decision.model_id, revision=decision.model_revision),
        decided_at=decision.decided_at,
    )


def moderation_out(
    submission: Submission, image: Image, decision: Decision | None
) -> ModerationOut:
    """The public view of a submission with its image and decision."""
    return ModerationOut(
        id=submission.id,
        status=submission.status,  # type: ignore[arg-type]
        external_id=submission.external_id,
        image=ImageOut(
            sha256=image.sha256, width=image.width, height=image.height, format=image.format
        ),
        policy=PolicyRef(
            slug=_slug_of(submission.policy_version), version=submission.policy_version
        ),
        decision=None if decision is None else decision_out(decision),
        error=submission.error,
        created_at=submission.created_at,
    )


def received_out(received: Received, image: ImageInfo, external_id: str | None) -> ModerationOut:
    """The public view of a submission just accepted (status queued, no decision yet)."""
    return ModerationOut(
        id=received.id,
        status="queued",
        external_id=external_id,
        image=ImageOut(
            sha256=image.sha256, width=image.width, height=image.height, format=image.format
        ),
        policy=PolicyRef(slug=_slug_of(received.policy_version), version=received.policy_version),
        decision=None,
        error=None,
        created_at=received.created_at,
    )
