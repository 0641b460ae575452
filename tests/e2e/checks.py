"""Assertions shared by the end-to-end tests: a decision is valid and equals its stored row."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from moderation.inference.profiles import PROFILES
from moderation.inference.verdict_format import public_category
from moderation.policies.format import load_policy_file
from moderation.submissions.verdicts import decide
from tests.support.db import rows

ROOT = Path(__file__).resolve().parents[2]


def assert_valid_decision(body: dict[str, Any]) -> None:
    """The decision obeys the contract and the policy it names."""
    policy = load_policy_file(ROOT / "policies" / f"{body['policy']['slug']}.yaml")
    assert body["policy"]["version"] == policy.version
    decision = body["decision"]
    assert decision["action"] in ("allow", "review", "block")
    assert body["flagged"] is (decision["action"] != "allow")
    assert decision["rating"] in ("safe", "unsafe")
    assert decision["category"] is None or decision["category"] in policy.category_ids
    assert decision["decided_by"] == "model"
    assert "RANDOM WEIGHTS" in decision["model"]["id"]
    assert decision["model"]["revision"]
    scores = decision["scores"]
    assert 0.0 <= scores["unsafe"] <= 1.0
    assert set(scores["categories"]) == {*policy.category_ids, "none"}
    assert math.isclose(sum(scores["categories"].values()), 1.0, abs_tol=1e-6)
    assert len(decision["rationale"]) <= policy.rationale_max_chars
    outcome = decide(policy, scores["unsafe"], scores["categories"])
    assert (outcome.action, outcome.rating, outcome.category) == (
        decision["action"],
        decision["rating"],
        decision["category"],
    )


def assert_matches_database(db: str, body: dict[str, Any]) -> dict[str, Any]:
    """The API's decision is the stored row, and the row carries full provenance."""
    (row,) = rows(db, "SELECT * FROM decisions WHERE submission_id = :id", id=body["id"])
    decision = body["decision"]
    for field in ("action", "rating", "category", "rationale", "scores", "decided_by"):
        assert row[field] == decision[field], field
    assert (row["model_id"], row["model_revision"]) == (
        decision["model"]["id"],
        decision["model"]["revision"],
    )
    # the exact model output is stored, in the words of the profile it was asked with
    profile = PROFILES[row["decoding"]["profile"]]
    assert decision["model"]["profile"] == profile.name
    policy = load_policy_file(ROOT / "policies" / f"{body['policy']['slug']}.yaml")
    parsed = profile.answer.parse(row["raw_text"], policy.rubric())
    assert parsed.rationale == decision["rationale"]
    assert row["verdict"] == {"rating": parsed.rating, "category": public_category(parsed)}
    assert len(row["prompt_sha256"]) == 64 and row["latency_ms"] > 0
    assert row["decoding"]["max_new_tokens"] > 0
    (sub,) = rows(
        db,
        "SELECT status, image_sha256, policy_version FROM submissions WHERE id = :id",
        id=body["id"],
    )
    assert sub == {
        "status": "decided",
        "image_sha256": body["image"]["sha256"],
        "policy_version": body["policy"]["version"],
    }
    return row
