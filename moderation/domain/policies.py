"""Policy rubrics: the YAML format, validation, canonical form and version ids."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Action = Literal["allow", "review", "block"]
NO_CATEGORY = "none"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Strict):
    """One policy category: what the image should not show, what it can show, and what to do."""

    id: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,15}$")
    name: str = Field(min_length=1, max_length=120)
    should_not: tuple[str, ...] = Field(min_length=1)
    can: tuple[str, ...] = Field(min_length=1)
    action: Literal["review", "block"] = "block"


class Thresholds(_Strict):
    """Thresholds on P(unsafe): at or above ``block_at`` block, at or above ``review_at`` review."""

    review_at: float = Field(ge=0.0, le=1.0)
    block_at: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.review_at > self.block_at:
            raise ValueError("review_at must not be greater than block_at")
        return self


class Policy(_Strict):
    """A policy rubric as authored (one YAML file)."""

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    instructions: str = Field(min_length=1)
    categories: tuple[Category, ...] = Field(min_length=1)
    thresholds: Thresholds
    rationale_max_chars: int = Field(default=300, ge=20, le=2000)
    prompt_layout: Literal["image_first", "policy_first"] = "image_first"

    @field_validator("categories")
    @classmethod
    def _unique_ids(cls, categories: tuple[Category, ...]) -> tuple[Category, ...]:
        ids = [c.id for c in categories]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate category ids: {', '.join(dupes)}")
        if NO_CATEGORY in ids:
            raise ValueError(f"'{NO_CATEGORY}' is reserved for 'no category applies'")
        return categories

    @property
    def category_ids(self) -> list[str]:
        """Category ids in rubric order."""
        return [c.id for c in self.categories]

    def category(self, category_id: str) -> Category:
        """The category with this id (KeyError when unknown)."""
        for c in self.categories:
            if c.id == category_id:
                return c
        raise KeyError(category_id)

    def canonical_json(self) -> str:
        """A stable serialisation: the input of the version hash."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def content_sha256(self) -> str:
        """sha256 of the canonical content."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def version(self) -> str:
        """Immutable version id: the slug plus a short hash of the canonical content."""
        return f"{self.slug}-{self.content_sha256[:10]}"


def parse_policy(text: str) -> Policy:
    """Parse and validate a policy from YAML text (pydantic ValidationError on bad content)."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("a policy file must be a YAML mapping")
    return Policy.model_validate(data)


def load_policy_file(path: Path) -> Policy:
    """Read one policy YAML file."""
    return parse_policy(path.read_text(encoding="utf-8"))


def load_policy_dir(directory: Path) -> list[Policy]:
    """Read every ``*.yaml`` policy in a folder, sorted by file name."""
    return [load_policy_file(p) for p in sorted(directory.glob("*.yaml"))]
