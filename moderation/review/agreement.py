"""Model-vs-reviewer agreement: overall, per category, per policy version, per day, and the
confusion matrix. The model's side is its own decision (``model_action``/``model_category``,
kept on the decision row); the reviewer's is the latest review. They agree when they name
the same category (or both none)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from sqlalchemy.orm import Session

from moderation.inference.rubric import NO_CATEGORY
from moderation.review.repository import AgreementCell, AgreementFilter, agreement_cells

__all__ = [
    "AgreementFilter",
    "AgreementReport",
    "CategoryAgreement",
    "Rate",
    "agreement",
    "build_report",
]


@dataclass(frozen=True)
class Rate:
    """``agreed`` of ``total``."""

    agreed: int
    total: int

    @property
    def rate(self) -> float | None:
        """The share that agreed (None when nothing was reviewed)."""
        return self.agreed / self.total if self.total else None


@dataclass(frozen=True)
class CategoryAgreement:
    """One label: how often the model and reviewers used it, and how often both did."""

    category: str
    model_count: int
    reviewer_count: int
    agreed: int

    @property
    def precision(self) -> float | None:
        """Of the model's uses of the label, the share reviewers confirmed."""
        return self.agreed / self.model_count if self.model_count else None

    @property
    def recall(self) -> float | None:
        """Of the reviewers' uses of the label, the share the model had found."""
        return self.agreed / self.reviewer_count if self.reviewer_count else None


@dataclass(frozen=True)
class AgreementReport:
    """The agreement dashboard's numbers. ``confusion[i][j]``: items the model labelled
    ``labels[i]`` and reviewers ``labels[j]`` (``none``: no category, i.e. safe)."""

    overall: Rate
    actions: Rate  # same action (allow/review/block)
    per_category: list[CategoryAgreement]
    per_policy_version: dict[str, Rate]
    per_day: list[tuple[date, Rate]]
    labels: list[str]
    confusion: list[list[int]]


def _label(category: str | None) -> str:
    return NO_CATEGORY if category is None else category


def _rate(cells: Iterable[AgreementCell]) -> Rate:
    agreed = total = 0
    for c in cells:
        total += c.n
        agreed += c.n if c.model_category == c.reviewer_category else 0
    return Rate(agreed, total)


_Key = TypeVar("_Key", str, date)


def _rates_by(cells: list[AgreementCell], key: Callable[[AgreementCell], _Key]) -> dict[_Key, Rate]:
    groups: dict[_Key, list[AgreementCell]] = defaultdict(list)
    for c in cells:
        groups[key(c)].append(c)
    return {k: _rate(v) for k, v in sorted(groups.items())}


def _confusion(cells: list[AgreementCell]) -> tuple[list[str], list[list[int]]]:
    used = {_label(c.model_category) for c in cells} | {_label(c.reviewer_category) for c in cells}
    labels = sorted(used - {NO_CATEGORY}) + ([NO_CATEGORY] if NO_CATEGORY in used else [])
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for c in cells:
        matrix[index[_label(c.model_category)]][index[_label(c.reviewer_category)]] += c.n
    return labels, matrix


def build_report(cells: list[AgreementCell]) -> AgreementReport:
    """The report from grouped model-vs-review counts (pure arithmetic)."""
    labels, matrix = _confusion(cells)
    per_category = [
        CategoryAgreement(
            label,
            model_count=sum(matrix[i]),
            reviewer_count=sum(row[i] for row in matrix),
            agreed=matrix[i][i],
        )
        for i, label in enumerate(labels)
    ]
    same_action = sum(c.n for c in cells if c.model_action == c.reviewer_action)
    return AgreementReport(
        overall=_rate(cells),
        actions=Rate(same_action, sum(c.n for c in cells)),
        per_category=per_category,
        per_policy_version=_rates_by(cells, lambda c: c.policy_version),
        per_day=list(_rates_by(cells, lambda c: c.day).items()),
        labels=labels,
        confusion=matrix,
    )


def agreement(session: Session, flt: AgreementFilter) -> AgreementReport:
    """Agreement over the reviewed decisions under ``flt``."""
    return build_report(agreement_cells(session, flt))
