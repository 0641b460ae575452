"""Policy and category names for the queue: its filter choices and each row's category name,
read from the policy versions (the policies package owns them; this only reads)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from moderation.policies import repository as policies


@dataclass(frozen=True)
class FilterChoices:
    """What the queue's policy and category drop-downs offer."""

    policies: list[str]
    categories: dict[str, str]  # id -> name, of the chosen policy (of every one when none)


def filter_choices(
    session: Session, slug: str | None, tenant_id: uuid.UUID | None
) -> FilterChoices:
    """The policies a reviewer's items can be under (the tenant's own and the global ones;
    every policy for a reviewer of every tenant), and the categories of ``slug`` (or of them
    all)."""
    active = (
        policies.list_active(session)
        if tenant_id is None
        else policies.list_usable(session, tenant_id)
    )
    categories: dict[str, str] = {}
    for policy, version in active:
        if slug is None or policy.slug == slug:
            for c in version.content.get("categories", []):
                categories.setdefault(c["id"], c["name"])
    return FilterChoices(sorted({p.slug for p, _ in active}), categories)


def category_names(session: Session, versions: Iterable[str]) -> dict[str, dict[str, str]]:
    """For each policy version, its categories' names by id."""
    names: dict[str, dict[str, str]] = {}
    for version in set(versions):
        row = policies.get_version(session, version)
        categories = row.content.get("categories", []) if row else []
        names[version] = {c["id"]: c["name"] for c in categories}
    return names
