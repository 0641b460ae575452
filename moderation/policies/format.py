"""Policy rubrics: the YAML format, validation, canonical form and version ids."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from moderation.inference.rubric import NO_CATEGORY, Rubric, RubricCategory
from moderation.policies.yaml_lines import Located, NotPlainYaml, format_path, locate

Action = Literal["allow", "review", "block"]


@dataclass(frozen=True)
class Outcome:
    """What a policy makes of a verdict: the action, and the rating and category it rests on
    (``action`` is empty where only a label's rating and category are known)."""

    action: Action | Literal[""]
    rating: str
    category: str | None


_DUPLICATE_IDS = "duplicate_category_ids"


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
            raise ValueError(
                f"review_at ({self.review_at}) must not be greater than block_at ({self.block_at})"
            )
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
            # parse_policy reports each duplicate at its own path instead
            raise PydanticCustomError(
                _DUPLICATE_IDS, "duplicate category ids: {ids}", {"ids": ", ".join(dupes)}
            )
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

    def rubric(self) -> Rubric:
        """What the engine reads of this policy."""
        return Rubric(
            version=self.version,
            instructions=self.instructions,
            categories=tuple(
                RubricCategory(c.id, c.name, c.should_not, c.can) for c in self.categories
            ),
            rationale_max_chars=self.rationale_max_chars,
            prompt_layout=self.prompt_layout,
        )

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


@dataclass(frozen=True)
class PolicyProblem:
    """One reason a policy is refused, at a field path and a line of its YAML."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path} (line {self.line}): {self.message}"


class PolicyInvalid(ValueError):
    """A policy file that does not validate; ``problems`` name each field path and line."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _duplicate_ids(data: dict[str, Any], located: Located) -> list[PolicyProblem]:
    categories = data.get("categories")
    seen: set[object] = set()
    problems = []
    for index, category in enumerate(categories if isinstance(categories, list) else []):
        cid = category.get("id") if isinstance(category, dict) else None
        if cid is not None and cid in seen:
            path = ("categories", index, "id")
            message = f"duplicate category id '{cid}'"
            problems.append(PolicyProblem(format_path(path), located.line_of(path), message))
        seen.add(cid)
    return problems


def _message(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "too_short" and (error.get("ctx") or {}).get("min_length") == 1:
        return "must not be empty"
    return error["msg"].removeprefix("Value error, ")


def _problems(exc: ValidationError, located: Located) -> list[PolicyProblem]:
    errors = [e for e in exc.errors() if e["type"] != _DUPLICATE_IDS]
    failed = [tuple(e["loc"]) for e in errors]
    problems = []
    for error in errors:
        path = tuple(error["loc"])
        nested = any(len(f) > len(path) and f[: len(path)] == path for f in failed)
        if error["type"] == "too_short" and nested:
            continue  # pydantic counts only the valid items: the nested errors say why
        message = _message(error)
        problems.append(PolicyProblem(format_path(path), located.line_of(path), message))
    return problems


def parse_policy(text: str) -> Policy:
    """Parse and validate a policy from YAML text (PolicyInvalid, with paths and lines)."""
    try:
        located = locate(text)
        data = yaml.safe_load(text)
    except NotPlainYaml as exc:
        raise PolicyInvalid([PolicyProblem("(document)", exc.line, str(exc))]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise PolicyInvalid([PolicyProblem("(document)", line, f"malformed YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise PolicyInvalid([PolicyProblem("(document)", 1, "a policy must be a YAML mapping")])
    problems = [
        PolicyProblem(format_path(p), located.lines[p], "duplicate key")
        for p in located.duplicate_keys
    ]
    problems += _duplicate_ids(data, located)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems += _problems(exc, located)
    if problems:
        raise PolicyInvalid(sorted(problems, key=lambda p: (p.line, p.path)))
    return policy


def load_policy_file(path: Path) -> Policy:
    """Read one policy YAML file."""
    return parse_policy(path.read_text(encoding="utf-8"))


def load_policy_dir(directory: Path) -> list[Policy]:
    """Read every ``*.yaml`` policy in a folder, sorted by file name."""
    return [load_policy_file(p) for p in sorted(directory.glob("*.yaml"))]
