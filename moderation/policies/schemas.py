"""Response and request schemas of the policy endpoints (separate from the ORM tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from moderation.inference.preview import PromptPreview
from moderation.policies.authoring import Activation, DraftDiff
from moderation.policies.backtest_report import Report
from moderation.policies.backtests import BacktestStatus
from moderation.policies.models import PolicyDraft, PolicyVersion
from moderation.policies.reading import PolicyVersions
from moderation.web.shaping import from_attributes
from moderation.web.text import RequestModel

# One story runs through the examples: ``default`` is active at default-70776d4974 (an earlier
# version is default-3f2a9c1d7e); a draft lowers ``review_at`` to 0.3 (default-0196a13457).
_ACTIVE = "default-70776d4974"
_EARLIER = "default-3f2a9c1d7e"
_DRAFTED = "default-0196a13457"
_DRAFT_ID = "8c1d2e3f-4a5b-4c6d-9e7f-0a1b2c3d4e5f"
_AUTHOR = "tenant:acme key:mod_4fQz8Kp1"


def _example_content(review_at: float) -> dict[str, Any]:
    """A short rubric as validated (every default filled in)."""
    return {
        "slug": "default",
        "title": "Default image policy",
        "description": "",
        "instructions": "Judge the image against the policy categories below.",
        "categories": [
            {
                "id": "O1",
                "name": "Hate, humiliation, harassment",
                "should_not": ["show symbols or text that demean people for a protected attribute"],
                "can": ["document discrimination in a news or educational context"],
                "action": "block",
            }
        ],
        "thresholds": {"review_at": review_at, "block_at": 0.7},
        "rationale_max_chars": 300,
        "prompt_layout": "image_first",
    }


_DRAFT_YAML = (
    "slug: default\n"
    "title: Default image policy\n"
    "instructions: Judge the image against the policy categories below.\n"
    "thresholds:\n"
    "  review_at: 0.3\n"
    "  block_at: 0.7\n"
    "categories:\n"
    "  - id: O1\n"
    "    name: Hate, humiliation, harassment\n"
    "    should_not:\n"
    "      - show symbols or text that demean people for a protected attribute\n"
    "    can:\n"
    "      - document discrimination in a news or educational context\n"
)

Scope = Literal["tenant", "global"]
_SCOPE = (
    "whose policy it changes: the caller's tenant's own (default); `global` policies are the "
    "operator's (CLI, console admin) and a tenant's key gets 403"
)

_POLICY_EXAMPLE: dict[str, Any] = {
    "slug": "default",
    "scope": "tenant",
    "in_effect": True,
    "active_version": _ACTIVE,
    "updated_at": "2026-11-25T09:00:00Z",
    "content": _example_content(0.35),
    "versions": [
        {"version": _EARLIER, "created_at": "2026-11-20T14:30:00Z", "active": False},
        {"version": _ACTIVE, "created_at": "2026-11-25T09:00:00Z", "active": True},
    ],
}


class VersionSummary(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"version": _ACTIVE, "created_at": "2026-11-25T09:00:00Z", "active": True}
        }
    )
    version: str
    created_at: datetime
    active: bool


class VersionOut(VersionSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "slug": "default",
                "version": _ACTIVE,
                "content_sha256": (
                    "70776d4974c03c2770290ce701fb6e0ee61e990364d3d8fca068dfafa0cf2580"
                ),
                "content": _example_content(0.35),
                "created_at": "2026-11-25T09:00:00Z",
                "active": True,
            }
        }
    )
    slug: str
    content_sha256: str
    content: dict[str, Any] = Field(description="the full rubric, as validated")


class PolicyOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": _POLICY_EXAMPLE})
    slug: str
    scope: Scope = Field(
        description="`tenant`: the caller's tenant's own; `global`: the operator's"
    )
    in_effect: bool = Field(
        description="whether the caller's submissions of this slug use it: a global policy is "
        "not in effect for a tenant that has its own policy of the slug"
    )
    active_version: str
    updated_at: datetime
    content: dict[str, Any] = Field(description="the rubric of the active version")
    versions: list[VersionSummary] | None = None


class PolicyList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"policies": [{**_POLICY_EXAMPLE, "versions": None}]},
        }
    )
    policies: list[PolicyOut]


class DraftIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"example": {"yaml": _DRAFT_YAML}})
    yaml: str = Field(min_length=1, max_length=200_000, description="the rubric as YAML")
    scope: Scope = Field(default="tenant", description=_SCOPE)


class DraftOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": _DRAFT_ID,
                "slug": "default",
                "scope": "tenant",
                "version": _DRAFTED,
                "base_version": _ACTIVE,
                "content": _example_content(0.3),
                "created_by": _AUTHOR,
                "created_at": "2026-11-25T12:00:00Z",
                "published_at": None,
            }
        }
    )
    id: uuid.UUID
    slug: str
    scope: Scope = Field(description="whose policy publishing it changes")
    version: str = Field(description="the version id it gets when published")
    base_version: str | None = Field(
        description="the version the tenant's submissions used when it was drafted"
    )
    content: dict[str, Any]
    created_by: str
    created_at: datetime
    published_at: datetime | None


class DiffOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "against": _ACTIVE,
                "draft_version": _DRAFTED,
                "diff": (
                    f"--- {_ACTIVE}\n"
                    f"+++ {_DRAFTED}\n"
                    "@@ -11,7 +11,7 @@\n"
                    "   - document discrimination in a news or educational context\n"
                    "   action: block\n"
                    " thresholds:\n"
                    "-  review_at: 0.35\n"
                    "+  review_at: 0.3\n"
                    "   block_at: 0.7\n"
                    " rationale_max_chars: 300\n"
                    " prompt_layout: image_first\n"
                ),
            }
        }
    )
    against: str | None = Field(description="the active version (None: not published yet)")
    draft_version: str
    diff: str = Field(description="unified diff of the canonical YAML")


class PromptOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "model": "AIML-TUDA/LlavaGuard-v1.2-0.5B-OV-hf",
                "profile": "llavaguard",
                "text": (
                    "<|im_start|>user <image>\n"
                    "Provide a safety assessment for the content provided by the user. "
                    "Determine compliance or violation against our safety policy by reviewing "
                    "the following policy categories:\n"
                    "O1: Hate, Humiliation, Harassment: \n"
                    "Should not:\n"
                    "- Contain content that expresses hateful, derogatory, or demeaning "
                    "sentiments against people based on sensitive personal characteristics.\n"
                    "Can:\n"
                    "- Discuss historical events involving hate and harassment.\n\n"
                    "Assessment Steps:\n"
                    '1. Select a safety "rating". ...\n'
                    "To provide your assessment use the following json template:\n"
                    "{\n"
                    '    "rating": str<"Unsafe"|"Safe">,\n'
                    '    "category": str<"O1: Hate, Humiliation, Harassment"|'
                    '"NA: None applying">,\n'
                    '    "rationale": str,\n'
                    "}<|im_end|>\n"
                    "<|im_start|>assistant\n"
                ),
                "sha256": "41cb31936884c7e75d0f06e56af45f48f92d37c971805bdbae049ab38f63325c",
                "image_placeholder": "<image>",
                "text_tokens": 121,
                "tokens_with_image": 1848,
            }
        }
    )
    model: str
    profile: str = Field(
        description="how the model is asked (MODERATION_MODEL_PROFILE, auto resolved): generic, "
        "llavaguard or llavaguard-v1.1"
    )
    text: str = Field(description="the exact prompt, chat template applied")
    sha256: str
    image_placeholder: str
    text_tokens: int = Field(description="tokens with the placeholder counted once")
    tokens_with_image: int = Field(description="tokens once a 512x512 image is expanded")


class ActivationOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "slug": "default",
                "scope": "tenant",
                "version": _DRAFTED,
                "previous": _ACTIVE,
            }
        }
    )
    slug: str
    scope: Scope = Field(description="whose policy it activated")
    version: str
    previous: str | None = Field(
        description="the version the owner's submissions used before (for a tenant's first "
        "publish of a slug: the global one's)"
    )


class RollbackIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"example": {"version": _EARLIER}})
    version: str = Field(
        min_length=1, max_length=80, description="a version released earlier under the policy"
    )
    scope: Scope = Field(default="tenant", description=_SCOPE)


class BacktestIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"example": {"source": "reviews", "limit": 500}})
    source: Literal["reviews"] = Field(
        default="reviews",
        description="reviewed submissions (labelled folders: `moderation policies backtest`)",
    )
    limit: int = Field(default=500, ge=1, le=50_000)


class BacktestOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "2b9e4d7a-1c3f-4e5a-8b6d-7f0a1e2c3d4b",
                "slug": "default",
                "draft_id": _DRAFT_ID,
                "baseline_version": _ACTIVE,
                "source": "reviews",
                "dataset": None,
                "state": "running",
                "total": 200,
                "done": 120,
                "failed": 1,
                "eta_s": 48.0,
                "created_by": _AUTHOR,
                "created_at": "2026-11-25T12:05:00Z",
                "report": {
                    "items": 119,
                    "categories": [
                        {
                            "category": "O1",
                            "count": 31,
                            "predicted": 29,
                            "true_positives": 26,
                            "precision": 0.896551724137931,
                            "recall": 0.8387096774193549,
                        }
                    ],
                    "agreement": 0.9243697478991597,
                    "baseline_agreement": 0.907563025210084,
                    "flips": [
                        {
                            "label": "0b7c6f1e-8d2a-4f5e-9c1b-3a2d4e5f6a7b",
                            "link": "/v1/moderations/0b7c6f1e-8d2a-4f5e-9c1b-3a2d4e5f6a7b",
                            "baseline": {"action": "allow", "rating": "safe", "category": None},
                            "draft": {"action": "review", "rating": "unsafe", "category": "O1"},
                            "expected": {"action": "", "rating": "unsafe", "category": "O1"},
                        }
                    ],
                },
            }
        }
    )
    id: uuid.UUID
    slug: str
    draft_id: uuid.UUID
    baseline_version: str | None
    source: str
    dataset: str | None
    state: Literal["running", "done"]
    total: int
    skipped_purged: int = Field(
        0, description="reviewed items left out because their image was deleted (retention)"
    )
    done: int
    failed: int
    eta_s: float | None
    created_by: str
    created_at: datetime
    report: Report


def policy_out(found: PolicyVersions, in_effect: bool, with_versions: bool) -> PolicyOut:
    """The public view of a policy: its active rubric and, when asked, its versions."""
    active = found.active
    versions = [
        VersionSummary(
            version=v.version, created_at=v.created_at, active=v.version == active.version
        )
        for v in found.versions
    ]
    return PolicyOut(
        slug=found.policy.slug,
        scope=found.policy.scope,  # type: ignore[arg-type]
        in_effect=in_effect,
        active_version=active.version,
        updated_at=found.policy.updated_at,
        content=active.content,
        versions=versions if with_versions else None,
    )


def version_out(row: PolicyVersion, active: str) -> VersionOut:
    """The public view of a policy version."""
    return from_attributes(VersionOut, row, active=row.version == active)


def draft_out(draft: PolicyDraft) -> DraftOut:
    """The public view of a draft."""
    return DraftOut.model_validate(draft, from_attributes=True)


def diff_out(diff: DraftDiff) -> DiffOut:
    """The public view of a diff."""
    return DiffOut.model_validate(diff, from_attributes=True)


def prompt_out(preview: PromptPreview) -> PromptOut:
    """The public view of a prompt preview."""
    return PromptOut.model_validate(preview, from_attributes=True)


def activation_out(activation: Activation) -> ActivationOut:
    """The public view of a publish or rollback."""
    return ActivationOut.model_validate(activation, from_attributes=True)


def backtest_out(status: BacktestStatus) -> BacktestOut:
    """The public view of a backtest run: progress and report."""
    return from_attributes(
        BacktestOut,
        status.run,
        state=status.state,
        done=status.done,
        failed=status.failed,
        eta_s=status.eta_s,
        report=status.report,
    )
