"""Rubric texts and API calls shared by the policy tests."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
MARKETPLACE = ROOT / "policies" / "marketplace.yaml"


def new_slug(prefix: str = "auth") -> str:
    """A slug no other test uses (the suite shares one database)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rubric(slug: str, **changes: Any) -> str:
    """The marketplace rubric under another slug, with top-level ``changes``, as YAML."""
    data = yaml.safe_load(MARKETPLACE.read_text())
    data.update(slug=slug, **changes)
    return yaml.safe_dump(data, sort_keys=False)


def create_draft(client: httpx.Client, slug: str, text: str) -> dict[str, Any]:
    """POST a draft; asserts 201."""
    response = client.post(f"/v1/policies/{slug}/drafts", json={"yaml": text})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def publish(client: httpx.Client, slug: str, text: str) -> str:
    """Draft and publish ``text``; returns the version now active."""
    draft = create_draft(client, slug, text)
    response = client.post(f"/v1/policies/{slug}/drafts/{draft['id']}/publish")
    assert response.status_code == 200, response.text
    version: str = response.json()["version"]
    return version


def publish_global(db: str, slug: str, text: str) -> str:
    """Draft and publish ``text`` as the operator (the global policy ``slug``, which every
    tenant without its own uses); returns the version now active."""
    from moderation.policies.authoring import Author, create_draft, publish_draft
    from moderation.storage.db import session_scope

    operator = Author(None, "test:operator")
    with session_scope(db) as session:
        draft = create_draft(session, operator, slug, text)
        return publish_draft(session, operator, draft).version


EVERYTHING_UNSAFE = {"review_at": 0.0, "block_at": 0.0}
"""Thresholds under which every image is unsafe: a draft whose effect is certain."""


def labelled_dataset(base: Path, labels: list[tuple[str, str]], seed: int, side: int = 24) -> Path:
    """A folder of PNGs (``0.png``...) with ``labels.csv`` giving each one's rating and category."""
    from tests.support import images

    dataset = base / "dataset"
    dataset.mkdir()
    lines = ["file,rating,category"]
    for n, (rating, category) in enumerate(labels):
        (dataset / f"{n}.png").write_bytes(images.png(side, side, seed=seed + n))
        lines.append(f"{n}.png,{rating},{category}")
    (dataset / "labels.csv").write_text("\n".join(lines) + "\n")
    return dataset
