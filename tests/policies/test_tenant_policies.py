"""Policies belong to a tenant or are global (issue #18), through the real API: a tenant's own
``default`` replaces the global one for its uploads only; another tenant cannot see or change
it; the global policies are the operator's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from moderation.policies import backtests
from moderation.policies.authoring import Author
from moderation.policies.models import PolicyDraft
from moderation.storage.db import session_scope
from tests.conftest import Env
from tests.policies.support import create_draft, new_slug, publish, rubric
from tests.support import images
from tests.support.db import rows
from tests.support.intake import accept_many
from tests.support.processes import ApiServer

DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"


def _default(**changes: Any) -> str:
    data = yaml.safe_load(DEFAULT.read_text())
    data.update(changes)
    return yaml.safe_dump(data, sort_keys=False)


def _tenant(db: str) -> tuple[str, uuid.UUID, str]:
    """A new tenant: (API key, id, name)."""
    from moderation.admin import create_tenant_key

    name = f"owner-{uuid.uuid4().hex[:8]}"
    key = create_tenant_key(db, name)
    (row,) = rows(db, "SELECT id FROM tenants WHERE name = :n", n=name)
    return key, row["id"], name  # type: ignore[return-value]


def _submit(client: httpx.Client, slug: str, seed: int) -> dict[str, Any]:
    response = client.post(
        "/v1/moderations",
        files={"image": ("x.png", images.png(36, 28, seed=seed), "image/png")},
        data={"policy": slug},
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def _version_of(client: httpx.Client, submission_id: str) -> str:
    version: str = client.get(f"/v1/moderations/{submission_id}").json()["policy"]["version"]
    return version


def _global_default(db: str) -> str:
    (row,) = rows(
        db, "SELECT active_version FROM policies WHERE slug = 'default' AND tenant_id IS NULL"
    )
    return str(row["active_version"])


def test_a_tenants_own_default_is_used_for_its_uploads_only(
    api: ApiServer, db: str, decide: Callable[[list[str]], None]
) -> None:
    key_a, tenant_a, _ = _tenant(db)
    key_b, _, _ = _tenant(db)
    global_default = _global_default(db)
    seeds = iter(range(1800, 1900))
    with api.client(key_a) as a, api.client(key_b) as b:
        draft = create_draft(a, "default", _default(rationale_max_chars=180))
        assert (draft["scope"], draft["base_version"]) == ("tenant", global_default)
        published = a.post(f"/v1/policies/default/drafts/{draft['id']}/publish").json()
        own_1 = published["version"]
        assert published == {
            "slug": "default",
            "scope": "tenant",
            "version": own_1,
            "previous": global_default,
        }
        a_1, b_1 = _submit(a, "default", next(seeds)), _submit(b, "default", next(seeds))
        assert _version_of(a, a_1["id"]) == own_1
        assert _version_of(b, b_1["id"]) == global_default

        # A lists its own default (in effect) and the global one (not in effect for A)
        listed = [
            (p["slug"], p["scope"], p["in_effect"])
            for p in a.get("/v1/policies").json()["policies"]
        ]
        assert ("default", "tenant", True) in listed and ("default", "global", False) in listed
        assert ("default", "global", True) in [
            (p["slug"], p["scope"], p["in_effect"])
            for p in b.get("/v1/policies").json()["policies"]
        ]
        mine = a.get("/v1/policies/default").json()
        assert (mine["scope"], mine["active_version"]) == ("tenant", own_1)
        assert [v["version"] for v in mine["versions"]] == [own_1]
        theirs = a.get("/v1/policies/default", params={"scope": "global"}).json()
        assert (theirs["active_version"], theirs["in_effect"]) == (global_default, False)
        assert b.get("/v1/policies/default").json()["active_version"] == global_default

        own_2 = publish(a, "default", _default(rationale_max_chars=160))
        back = a.post("/v1/policies/default/rollback", json={"version": own_1}).json()
        assert back == {"slug": "default", "scope": "tenant", "version": own_1, "previous": own_2}
        # only A's own versions are rollback targets: not the global one
        refused = a.post("/v1/policies/default/rollback", json={"version": global_default})
        assert refused.status_code == 404
        a_2, b_2 = _submit(a, "default", next(seeds)), _submit(b, "default", next(seeds))
        assert _version_of(a, a_2["id"]) == own_1
        assert _version_of(b, b_2["id"]) == global_default
        decide([a_1["id"], b_1["id"], a_2["id"], b_2["id"]])
        decided = {s: a.get(f"/v1/moderations/{s}").json() for s in (a_1["id"], a_2["id"])}
        assert all(d["status"] == "decided" for d in decided.values())

    # the global policy never moved; A's publish and rollback are in A's audit chain
    assert _global_default(db) == global_default
    events = rows(
        db,
        "SELECT event, data FROM audit_events WHERE tenant_id = :t AND subject_id = 'default' "
        "AND event IN ('policy.published', 'policy.rolled_back') ORDER BY id",
        t=tenant_a,
    )
    assert [(e["event"], e["data"]["version"], e["data"]["scope"]) for e in events] == [  # type: ignore[index]
        ("policy.published", own_1, "tenant"),
        ("policy.published", own_2, "tenant"),
        ("policy.rolled_back", own_1, "tenant"),
    ]


def test_another_tenants_policies_drafts_versions_and_backtests_answer_404(
    api: ApiServer, db: str, env: Env
) -> None:
    key_a, tenant_a, name_a = _tenant(db)
    key_b, _, _ = _tenant(db)
    slug = new_slug("own")
    with api.client(key_a) as a:
        version = publish(a, slug, rubric(slug))
        draft = create_draft(a, slug, rubric(slug, rationale_max_chars=90))
    ((sid, _),) = accept_many(db, env.data_dir / "blobs", [1901], tenant=name_a, policy=slug)
    with session_scope(db) as session:
        stored = session.get(PolicyDraft, uuid.UUID(draft["id"]))
        assert stored is not None
        (sha,) = rows(db, "SELECT image_sha256 FROM submissions WHERE id = :s", s=sid)
        labelled = [backtests.LabelledImage(str(sha["image_sha256"]), "x", "safe", None)]
        run, _ = backtests.start_backtest(
            session, Author(tenant_a, "t"), stored, labelled, source="reviews"
        )
    paths = [
        f"/v1/policies/{slug}",
        f"/v1/policies/{slug}/versions/{version}",
        f"/v1/policies/{slug}/drafts/{draft['id']}",
        f"/v1/policies/{slug}/drafts/{draft['id']}/diff",
        f"/v1/policies/{slug}/drafts/{draft['id']}/prompt",
        f"/v1/policies/{slug}/backtests/{run.id}",
    ]
    with api.client(key_b) as b:
        for path in paths:
            answer = b.get(path)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"]["code"] == "not_found"
        assert slug not in {p["slug"] for p in b.get("/v1/policies").json()["policies"]}
        for path, body in [
            (f"/v1/policies/{slug}/drafts/{draft['id']}/publish", None),
            (f"/v1/policies/{slug}/rollback", {"version": version}),
        ]:
            assert b.post(path, json=body).status_code == 404, path
        # a slug only A has is unknown to B's uploads
        upload = b.post(
            "/v1/moderations",
            files={"image": ("x.png", images.png(20, 20, seed=1902), "image/png")},
            data={"policy": slug},
        )
        assert upload.status_code == 422 and upload.json()["error"]["code"] == "unknown_policy"

        # the global policies are the operator's: a tenant's key gets 403
        for path, body in [
            ("/v1/policies/default/drafts", {"yaml": _default(), "scope": "global"}),
            ("/v1/policies/default/rollback", {"version": _global_default(db), "scope": "global"}),
        ]:
            answer = b.post(path, json=body)
            assert answer.status_code == 403, answer.text
            assert "operator" in answer.json()["error"]["message"]
    with api.client(key_a) as a:
        assert a.get(f"/v1/policies/{slug}/backtests/{run.id}").status_code == 200


@pytest.mark.parametrize("scope", ["tenant", "global"])
def test_policy_reads_of_a_tenant_without_its_own_show_the_global(
    api: ApiServer, db: str, scope: str
) -> None:
    key, _, _ = _tenant(db)
    with api.client(key) as client:
        found = client.get("/v1/policies/default", params={"scope": scope})
        if scope == "tenant":
            assert found.status_code == 404  # it has none of its own
        else:
            assert (found.json()["scope"], found.json()["in_effect"]) == ("global", True)
