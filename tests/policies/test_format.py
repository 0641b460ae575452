"""The policy format: shipped files validate, bad files are refused, versions are content hashes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from moderation.policies.format import (
    PolicyInvalid,
    load_policy_dir,
    load_policy_file,
    parse_policy,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "policies" / "default.yaml"


def _variant(**changes: object) -> str:
    data = yaml.safe_load(DEFAULT.read_text())
    data.update(changes)
    return yaml.safe_dump(data)


def test_shipped_policies_load() -> None:
    policies = {p.slug: p for p in load_policy_dir(ROOT / "policies")}
    assert policies["default"].category_ids == [f"O{i}" for i in range(1, 10)]
    assert "marketplace" in policies
    assert "ignore" in policies["default"].instructions.lower()


def test_version_is_slug_plus_content_hash_and_stable() -> None:
    a, b = load_policy_file(DEFAULT), load_policy_file(DEFAULT)
    assert a.version == b.version and a.version.startswith("default-")
    changed = parse_policy(_variant(rationale_max_chars=123))
    assert changed.version != a.version


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"unknown_key": 1}, "unknown_key"),
        ({"thresholds": {"review_at": 0.9, "block_at": 0.5}}, "review_at"),
        ({"thresholds": {"review_at": 0.1, "block_at": 1.5}}, "block_at"),
        ({"rationale_max_chars": 5}, "rationale_max_chars"),
        ({"prompt_layout": "sideways"}, "prompt_layout"),
    ],
)
def test_invalid_policies_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyInvalid, match=message):
        parse_policy(_variant(**changes))


def test_duplicate_category_ids_are_refused() -> None:
    data = yaml.safe_load(DEFAULT.read_text())
    data["categories"].append(copy.deepcopy(data["categories"][0]))  # no shared lists: no aliases
    with pytest.raises(PolicyInvalid, match="duplicate category id 'O1'"):
        parse_policy(yaml.safe_dump(data))


def test_empty_clause_list_is_refused() -> None:
    data = yaml.safe_load(DEFAULT.read_text())
    data["categories"][0]["can"] = []
    with pytest.raises(PolicyInvalid, match="can"):
        parse_policy(yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: &x [1]\nb: *x\n", 1, "anchors and aliases"),
        ("a: [1]\nb: *x\n", 2, "anchors and aliases"),  # an alias, even of nothing
        ("a: {x: 1}\nb:\n  <<: {y: 2}\n", 3, "merge keys"),
        ("slug: !!str default\n", 1, "tags"),
        ("slug: !custom default\n", 1, "tags"),
        ("a: " + "[" * 17 + "]" * 17 + "\n", 1, "at most 16 levels"),
        ("a: [" + ",".join(["1"] * 20_001) + "]\n", 1, "at most 20000 YAML nodes"),
    ],
)
def test_only_plain_yaml_is_read(text: str, line: int, message: str) -> None:
    with pytest.raises(PolicyInvalid, match=message) as refused:
        parse_policy(text)
    assert refused.value.problems[0].line == line


def test_a_quoted_merge_key_is_just_an_unknown_key() -> None:
    with pytest.raises(PolicyInvalid, match=r"<< .*unknown key"):
        parse_policy(DEFAULT.read_text() + '"<<": 1\n')
