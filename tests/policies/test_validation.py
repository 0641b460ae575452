"""Policy validation names the field path and the line; versions hash the canonical content."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from moderation.policies.cli import policies
from moderation.policies.format import PolicyInvalid, parse_policy
from tests.policies.support import MARKETPLACE

BAD = """\
slug: shop
title: Shop
instructions: Judge the image.
colour: blue
thresholds:
  review_at: 0.2
  block_at: 1.5
rationale_max_chars: 5
categories:
  - id: W1
    name: Weapons
    should_not: []
    can: [show toys]
  - id: W1
    name: Again
    should_not: [sell guns]
    can: [show toys]
    extra: 1
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(text)
    return [str(p) for p in caught.value.problems]


def test_every_problem_names_its_path_and_line() -> None:
    assert _problems(BAD) == [
        "colour (line 4): unknown key",
        "thresholds.block_at (line 7): Input should be less than or equal to 1",
        "rationale_max_chars (line 8): Input should be greater than or equal to 20",
        "categories[0].should_not (line 12): must not be empty",
        "categories[1].id (line 14): duplicate category id 'W1'",
        "categories[1].extra (line 18): unknown key",
    ]


def test_thresholds_out_of_order_and_rationale_too_long() -> None:
    text = MARKETPLACE.read_text()
    text = text.replace("review_at: 0.3", "review_at: 0.9").replace(
        "rationale_max_chars: 200", "rationale_max_chars: 5000"
    )
    assert _problems(text) == [
        "thresholds (line 12): review_at (0.9) must not be greater than block_at (0.6)",
        "rationale_max_chars (line 15): Input should be less than or equal to 2000",
    ]


def test_negative_threshold_empty_can_list_and_duplicate_yaml_key() -> None:
    text = MARKETPLACE.read_text().replace("review_at: 0.3", "review_at: -0.1")
    text = text.replace(
        "    can:\n      - show legal supplements or household products with their labels\n",
        "    can: []\n",
    )
    text += "title: Twice\n"
    assert _problems(text) == [
        "thresholds.review_at (line 13): Input should be greater than or equal to 0",
        "categories[1].can (line 28): must not be empty",
        "title (line 36): duplicate key",
    ]


def test_malformed_yaml_and_non_mapping() -> None:
    assert _problems("slug: [unclosed\n")[0].startswith("(document) (line 2): malformed YAML")
    assert _problems("- a list\n") == ["(document) (line 1): a policy must be a YAML mapping"]


def test_version_hashes_the_canonical_content_not_the_formatting() -> None:
    original = parse_policy(MARKETPLACE.read_text())
    reformatted = "# a comment\n" + MARKETPLACE.read_text().replace(
        "thresholds:\n  review_at: 0.3\n  block_at: 0.6",
        "thresholds: {block_at: 0.60, review_at: 0.30}",
    )
    assert parse_policy(reformatted).version == original.version
    assert original.version == f"marketplace-{original.content_sha256[:10]}"
    changed = parse_policy(MARKETPLACE.read_text().replace("block_at: 0.6", "block_at: 0.61"))
    assert changed.version != original.version and changed.slug == original.slug


def test_check_command_prints_problems_and_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = CliRunner().invoke(policies, ["check", str(MARKETPLACE), str(bad)])
    assert result.exit_code == 1
    version = parse_policy(MARKETPLACE.read_text()).version
    assert f"{MARKETPLACE}: ok ({version})" in result.output
    assert f"{bad}:4: colour: unknown key" in result.output
    assert f"{bad}:14: categories[1].id: duplicate category id 'W1'" in result.output
    shipped = CliRunner().invoke(policies, ["check", str(MARKETPLACE.parent / "default.yaml")])
    assert shipped.exit_code == 0, shipped.output
