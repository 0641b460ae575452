"""Response schemas (separate from the ORM tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from moderation.submissions.images import ImageInfo
from moderation.submissions.models import Appeal, Decision, Image, Submission
from moderation.submissions.types import Received
from moderation.web.text import RequestModel


class SubmissionFields(RequestModel):
    """The form fields of a submission that comes with its image file."""

    model_config = ConfigDict(extra="forbid")
    policy: str = Field("default", min_length=1, max_length=63, description="policy slug")
    external_id: str | None = Field(
        None, max_length=200, description="your id for the upload (echoed back)"
    )


class ImageUrlSubmission(SubmissionFields):
    """A submission whose image we fetch from an http(s) URL."""

    image_url: str = Field(
        min_length=1, max_length=2048, description="http(s) address of the image"
    )


class AppealIn(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"reason": "This is a medical illustration."}},
    )
    reason: str = Field(min_length=1, max_length=2000, description="why the decision is wrong")


class AppealOut(BaseModel):
    id: uuid.UUID
    status: Literal["open", "upheld", "overturned"] = Field(
        description="open until a reviewer confirms (upheld) or overturns the decision"
    )
    reason: str
    created_at: datetime
    resolved_at: datetime | None
    resolution_note: str | None


def appeal_out(appeal: Appeal) -> AppealOut:
    """The public view of an appeal."""
    return AppealOut(
        id=appeal.id,
        status=appeal.status,  # type: ignore[arg-type]
        reason=appeal.reason,
        created_at=appeal.created_at,
        resolved_at=appeal.resolved_at,
        resolution_note=appeal.resolution_note,
    )


class PolicyRef(BaseModel):
    slug: str
    version: str


class ImageOut(BaseModel):
    sha256: str
    width: int
    height: int
    format: str
    purged_at: datetime | None = Field(
        None,
        description="when the image bytes were deleted (retention or an erasure request); "
        "the decision, its provenance and the sha256 stay",
    )


class LegalHoldOut(BaseModel):
    reason: str
    placed_at: datetime


class ScoresOut(BaseModel):
    unsafe: float = Field(description="P(unsafe) read from the model's token distribution")
    categories: dict[str, float] = Field(description="P(category), every category plus 'none'")


class ModelRef(BaseModel):
    id: str
    revision: str
    engine: str = Field(
        description="where the model ran: local (in the worker) or vllm (an inference server)"
    )
    profile: str = Field(
        description="how the model was asked (MODERATION_MODEL_PROFILE): generic (our rubric "
        "prompt and labels) or llavaguard / llavaguard-v1.1 (LlavaGuard's template and labels; "
        "the decision still uses our ids, raw text keeps the model's words)"
    )
    decoding: dict[str, Any] = Field(
        description="how the verdict was decoded: strategy, schema, prompt layout, versions; "
        "with vllm also the served model and the server's version"
    )


class MatchOut(BaseModel):
    bank: uuid.UUID = Field(description="the hash bank whose entry matched")
    bank_name: str
    entry: uuid.UUID = Field(description="the entry that matched")
    distance: int = Field(description="PDQ Hamming distance (0 for an exact MD5/SHA-256 match)")
    kind: Literal["pdq", "md5", "sha256"] = Field(description="which hash matched")
    frame: int | None = Field(
        None, description="an animated image: the index of the frame that matched"
    )


class FrameOut(BaseModel):
    index: int = Field(description="the frame's position in the animation, from 0")
    offset_ms: int = Field(description="when the frame is first shown, from the start")
    rating: Literal["safe", "unsafe"] = Field(description="this frame's rating")
    category: str | None = Field(description="this frame's category (null when safe)")
    unsafe: float = Field(description="this frame's P(unsafe)")


class DecisionOut(BaseModel):
    action: Literal["allow", "review", "block"]
    rating: Literal["safe", "unsafe"]
    category: str | None
    rationale: str
    scores: ScoresOut
    decided_by: Literal["model", "reviewer"]
    source: Literal["model", "cache", "hash_match"] = Field(
        description="'cache': the verdict was reused from an identical earlier request "
        "(same image bytes, policy version, model revision and decoding); 'hash_match': an "
        "entry of a hash bank matched the image and decided it, with no model call"
    )
    match: MatchOut | None = Field(
        None, description="with source 'hash_match': the bank entry and the distance"
    )
    frames: list[FrameOut] | None = Field(
        None,
        description="an animated image (GIF, WebP, APNG): the frames judged, each with its "
        "own verdict; the most severe (highest P(unsafe)) sets the decision. Null for a "
        "still image",
    )
    model: ModelRef
    decided_at: datetime


class ModerationOut(BaseModel):
    id: uuid.UUID
    status: Literal["queued", "processing", "decided", "failed"]
    flagged: bool | None = Field(
        description="true when the decision's action is not 'allow'; null until decided"
    )
    external_id: str | None
    image: ImageOut
    policy: PolicyRef
    decision: DecisionOut | None
    appeal: AppealOut | None = Field(None, description="the latest appeal, if any")
    legal_hold: LegalHoldOut | None = Field(
        None, description="while set, the image is never purged or erased"
    )
    error: str | None
    created_at: datetime


MODERATION_EXAMPLE: dict[str, Any] = {
    "id": "0b7c6f1e-8d2a-4f5e-9c1b-3a2d4e5f6a7b",
    "status": "decided",
    "flagged": True,
    "external_id": "post-123",
    "image": {
        "sha256": "9f86d081" + "0" * 56,
        "width": 1024,
        "height": 768,
        "format": "JPEG",
        "purged_at": None,
    },
    "policy": {"slug": "default", "version": "default-3f2a9c1d7e"},
    "decision": {
        "action": "review",
        "rating": "unsafe",
        "category": "O2",
        "rationale": "The image shows a person holding a knife in a threatening pose.",
        "scores": {"unsafe": 0.62, "categories": {"O1": 0.03, "O2": 0.55, "none": 0.42}},
        "decided_by": "model",
        "source": "model",
        "model": {
            "id": "AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf",
            "revision": "5d1e7a3c",
            "engine": "vllm",
            "profile": "llavaguard",
            "decoding": {
                "engine": "vllm",
                "profile": "llavaguard",
                "strategy": "greedy",
                "max_new_tokens": 1150,
                "constrained": "structured_outputs/vllm",
                "prompt_layout": "image_first",
                "top_logprobs": 8,
                "served_model": "AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf",
                "vllm": "0.32.0",
            },
        },
        "decided_at": "2026-11-25T12:00:01Z",
    },
    "appeal": None,
    "legal_hold": None,
    "error": None,
    "created_at": "2026-11-25T12:00:00Z",
}


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
        match=None if decision.match is None else MatchOut.model_validate(decision.match),
        frames=None
        if decision.frames is None
        else [FrameOut.model_validate(f) for f in decision.frames],
        model=ModelRef(
            id=decision.model_id,
            revision=decision.model_revision,
            engine=str(decision.decoding.get("engine", "local")),
            # decisions stored before there were profiles were all asked the generic way
            profile=str(decision.decoding.get("profile", "generic")),
            decoding=dict(decision.decoding),
        ),
        decided_at=decision.decided_at,
    )


def moderation_out(
    submission: Submission, image: Image, decision: Decision | None, appeal: Appeal | None = None
) -> ModerationOut:
    """The public view of a submission with its image, decision and latest appeal."""
    return ModerationOut(
        id=submission.id,
        status=submission.status,  # type: ignore[arg-type]
        flagged=None if decision is None else decision.action != "allow",
        appeal=None if appeal is None else appeal_out(appeal),
        external_id=submission.external_id,
        image=ImageOut(
            sha256=image.sha256,
            width=image.width,
            height=image.height,
            format=image.format,
            purged_at=submission.image_purged_at,
        ),
        policy=PolicyRef(
            slug=_slug_of(submission.policy_version), version=submission.policy_version
        ),
        decision=None if decision is None else decision_out(decision),
        legal_hold=legal_hold_out(submission),
        error=submission.error,
        created_at=submission.created_at,
    )


def legal_hold_out(submission: Submission) -> LegalHoldOut | None:
    """The submission's legal hold, if one is placed."""
    if submission.legal_hold_at is None:
        return None
    return LegalHoldOut(
        reason=submission.legal_hold_reason or "", placed_at=submission.legal_hold_at
    )


def received_out(received: Received, image: ImageInfo, external_id: str | None) -> ModerationOut:
    """The public view of a submission just accepted (status queued, no decision yet)."""
    return ModerationOut(
        id=received.id,
        status="queued",
        flagged=None,
        appeal=None,
        legal_hold=None,
        external_id=external_id,
        image=ImageOut(
            sha256=image.sha256,
            width=image.width,
            height=image.height,
            format=image.format,
            purged_at=None,
        ),
        policy=PolicyRef(slug=_slug_of(received.policy_version), version=received.policy_version),
        decision=None,
        error=None,
        created_at=received.created_at,
    )
