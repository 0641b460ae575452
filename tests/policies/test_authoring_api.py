"""Policy authoring through the real API: drafts, 422s, diff, prompt, publish, rollback, reads."""

from __future__ import annotations

from typing import Any

from moderation.config import Settings
from moderation.inference.preview import cached_processor
from moderation.inference.profiles import GENERIC_PROFILE
from moderation.inference.prompt import render_prompt_text
from moderation.inference.resolve import resolve_model
from moderation.policies.format import parse_policy
from tests.conftest import Keys
from tests.policies.support import create_draft, new_slug, publish, rubric
from tests.support.db import rows
from tests.support.processes import ApiServer


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    message: str = body["error"]["message"]
    return message


def test_invalid_draft_is_refused_with_paths_and_lines(api: ApiServer, keys: Keys) -> None:
    slug = new_slug()
    text = rubric(slug, thresholds={"review_at": 0.8, "block_at": 0.4}, colour="red")
    with api.client(keys.a) as client:
        message = _error(
            client.post(f"/v1/policies/{slug}/drafts", json={"yaml": text}), 422, "invalid_policy"
        )
        assert "thresholds (line " in message and "must not be greater than block_at" in message
        assert "colour (line " in message and "unknown key" in message
        other = _error(
            client.post("/v1/policies/elsewhere/drafts", json={"yaml": rubric(slug)}),
            422,
            "invalid_policy",
        )
        assert other == "slug (line 1): must be 'elsewhere', the policy this draft is created under"
    with api.client() as anonymous:
        _error(
            anonymous.post(f"/v1/policies/{slug}/drafts", json={"yaml": text}), 401, "unauthorized"
        )


def test_draft_diff_prompt_publish_and_rollback(api: ApiServer, keys: Keys, db: str) -> None:
    slug = new_slug()
    with api.client(keys.a) as client:
        first = publish(client, slug, rubric(slug))
        text = rubric(slug, rationale_max_chars=150)
        draft = create_draft(client, slug, text)
        assert draft["base_version"] == first and draft["published_at"] is None
        assert draft["version"] == parse_policy(text).version != first

        diff = client.get(f"/v1/policies/{slug}/drafts/{draft['id']}/diff").json()
        assert diff["against"] == first
        changed = [line for line in diff["diff"].splitlines() if line[:1] in "+-"]
        assert changed == [
            f"--- {first}",
            f"+++ {draft['version']}",
            "-rationale_max_chars: 200",
            "+rationale_max_chars: 150",
        ]

        prompt = client.get(f"/v1/policies/{slug}/drafts/{draft['id']}/prompt").json()
        model, _ = resolve_model(Settings())
        parsed = parse_policy(text).rubric()
        expected = render_prompt_text(
            cached_processor(model, None), GENERIC_PROFILE.conversation(parsed)
        )
        assert prompt["text"] == expected and prompt["model"] == model
        assert prompt["profile"] == "generic"
        assert prompt["image_placeholder"] in prompt["text"]
        assert "at most 150 characters" in prompt["text"]
        assert 0 < prompt["text_tokens"] < prompt["tokens_with_image"]

        published = client.post(f"/v1/policies/{slug}/drafts/{draft['id']}/publish").json()
        assert published == {
            "slug": slug,
            "scope": "tenant",
            "version": draft["version"],
            "previous": first,
        }
        policy = client.get(f"/v1/policies/{slug}").json()
        assert policy["active_version"] == draft["version"]
        assert policy["content"]["rationale_max_chars"] == 150
        assert [(v["version"], v["active"]) for v in policy["versions"]] == [
            (first, False),
            (draft["version"], True),
        ]

        back = client.post(f"/v1/policies/{slug}/rollback", json={"version": first}).json()
        assert back == {
            "slug": slug,
            "scope": "tenant",
            "version": first,
            "previous": draft["version"],
        }
        old = client.get(f"/v1/policies/{slug}/versions/{draft['version']}").json()
        assert old["active"] is False and old["content"] == parse_policy(text).model_dump(
            mode="json"
        )
        listed = {p["slug"]: p for p in client.get("/v1/policies").json()["policies"]}
        assert listed[slug]["active_version"] == first and "default" in listed

    events = rows(
        db,
        "SELECT event, actor, tenant_id FROM audit_events WHERE subject_id = :s ORDER BY id",
        s=slug,
    )
    assert [e["event"] for e in events] == [
        "policy.draft_created",
        "policy.published",
        "policy.draft_created",
        "policy.draft_diffed",
        "policy.prompt_previewed",
        "policy.published",
        "policy.rolled_back",
    ]
    assert all(e["tenant_id"] is not None and e["actor"].startswith("tenant:") for e in events)
    (stored,) = rows(
        db,
        "SELECT created_by_tenant_id, created_by FROM policy_drafts WHERE id = :d",
        d=draft["id"],
    )
    assert stored["created_by_tenant_id"] == events[0]["tenant_id"]
    assert stored["created_by"].endswith(keys.a[:12])


def test_unknown_policies_versions_drafts_and_rollback_targets(api: ApiServer, keys: Keys) -> None:
    slug = new_slug()
    with api.client(keys.a) as client:
        publish(client, slug, rubric(slug))
        default = client.get("/v1/policies/default").json()["active_version"]
        _error(client.get("/v1/policies/no-such-policy"), 404, "not_found")
        _error(client.get(f"/v1/policies/{slug}/versions/{default}"), 404, "not_found")
        _error(client.get(f"/v1/policies/{slug}/drafts/{'0' * 32}"), 404, "not_found")
        _error(
            client.post(f"/v1/policies/{slug}/rollback", json={"version": default}),
            404,
            "not_found",
        )
