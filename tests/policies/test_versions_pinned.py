"""Point 6: decisions made before a publish keep their old version; new ones get the new one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import Keys
from tests.policies.support import EVERYTHING_UNSAFE, new_slug, publish, rubric
from tests.support import images
from tests.support.db import rows
from tests.support.processes import ApiServer


def _submit(client: httpx.Client, slug: str, seed: int) -> str:
    response = client.post(
        "/v1/moderations",
        files={"image": ("x.png", images.png(40, 30, seed=seed), "image/png")},
        data={"policy": slug},
    )
    assert response.status_code == 202, response.text
    submission_id: str = response.json()["id"]
    return submission_id


def test_publish_changes_new_decisions_only(
    api: ApiServer, keys: Keys, db: str, decide: Callable[[list[str]], None]
) -> None:
    slug = new_slug("pin")
    with api.client(keys.a) as client:
        old = publish(client, slug, rubric(slug))
        decided_before = _submit(client, slug, seed=601)
        decide([decided_before])
        queued_before = _submit(client, slug, seed=602)  # accepted before, decided after
        new = publish(client, slug, rubric(slug, thresholds=EVERYTHING_UNSAFE))
        after = _submit(client, slug, seed=603)
        decide([queued_before, after])
        bodies: dict[str, Any] = {
            sid: client.get(f"/v1/moderations/{sid}").json()
            for sid in (decided_before, queued_before, after)
        }
        versions = {v: client.get(f"/v1/policies/{slug}/versions/{v}") for v in (old, new)}

    assert old != new
    assert bodies[decided_before]["policy"] == {"slug": slug, "version": old}
    assert bodies[queued_before]["policy"] == {"slug": slug, "version": old}
    assert bodies[after]["policy"] == {"slug": slug, "version": new}
    # the new thresholds were applied to the new decision only
    assert bodies[after]["decision"]["rating"] == "unsafe"
    assert bodies[after]["decision"]["action"] in ("block", "review")
    # every decision's version resolves to its full content
    assert all(r.status_code == 200 for r in versions.values())
    assert versions[new].json()["content"]["thresholds"] == EVERYTHING_UNSAFE
    assert versions[old].json()["content"]["thresholds"] == {"review_at": 0.3, "block_at": 0.6}
    stored = rows(
        db,
        "SELECT s.policy_version FROM decisions d JOIN submissions s ON s.id = d.submission_id "
        "WHERE s.id IN (:a, :b, :c) ORDER BY s.created_at",
        a=decided_before,
        b=queued_before,
        c=after,
    )
    assert [r["policy_version"] for r in stored] == [old, old, new]
