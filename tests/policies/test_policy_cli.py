"""``moderation policies`` draft, diff, publish, rollback and sync against the real database."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from moderation.cli import main
from moderation.policies.format import parse_policy
from tests.policies.support import new_slug, rubric
from tests.support.db import execute, rows


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _active(db: str, slug: str, tenant: str | None = None) -> str:
    """The active version of the global ``slug`` (or the tenant's own)."""
    (row,) = rows(
        db,
        "SELECT p.active_version FROM policies p LEFT JOIN tenants t ON t.id = p.tenant_id "
        "WHERE p.slug = :s AND t.name IS NOT DISTINCT FROM :t",
        s=slug,
        t=tenant,
    )
    return str(row["active_version"])


def test_draft_diff_publish_rollback_and_sync_keeps_the_published(db: str, tmp_path: Path) -> None:
    slug = new_slug("cli")
    files = tmp_path / "files"
    files.mkdir()
    (files / f"{slug}.yaml").write_text(rubric(slug))
    assert "(new)" in _run("policies", "sync", "--dir", str(files))
    synced = _active(db, slug)

    (tmp_path / "v2.yaml").write_text(rubric(slug, title="Second"))
    draft_id, _, version, *_ = _run("policies", "draft", str(tmp_path / "v2.yaml")).split()
    assert version == parse_policy(rubric(slug, title="Second")).version
    assert "+title: Second" in _run("policies", "diff", draft_id)
    assert f"{slug} (global): {version} active (was {synced})" in _run(
        "policies", "publish", draft_id
    )
    # an unchanged file does not undo the publish
    assert "(unchanged)" in _run("policies", "sync", "--dir", str(files))
    assert _active(db, slug) == version

    rolled = _run("policies", "rollback", slug, synced)
    assert f"{slug} (global): {synced} active (was {version})" in rolled
    assert _active(db, slug) == synced
    unknown = CliRunner().invoke(main, ["policies", "rollback", slug, "default-0000000000"])
    assert unknown.exit_code != 0 and "no version default-0000000000" in unknown.output
    events = rows(
        db, "SELECT event, actor FROM audit_events WHERE subject_id = :s ORDER BY id", s=slug
    )
    assert [e["event"] for e in events][-4:] == [
        "policy.draft_created",
        "policy.draft_diffed",
        "policy.published",
        "policy.rolled_back",
    ]
    assert events[-1]["actor"].startswith("cli:")


def test_backtest_without_reviews_or_with_a_bad_draft_file(db: str, tmp_path: Path) -> None:
    slug = new_slug("cli")
    (tmp_path / "p.yaml").write_text(rubric(slug))
    nothing = CliRunner().invoke(main, ["policies", "backtest", str(tmp_path / "p.yaml")])
    assert nothing.exit_code != 0 and "no labelled images to backtest" in nothing.output
    (tmp_path / "bad.yaml").write_text(rubric(slug, rationale_max_chars=1))
    bad = CliRunner().invoke(main, ["policies", "backtest", str(tmp_path / "bad.yaml")])
    assert bad.exit_code != 0 and "rationale_max_chars (line " in bad.output


def test_the_operator_changes_a_tenants_own_policy_with_tenant(db: str, tmp_path: Path) -> None:
    slug = new_slug("cli")
    files = tmp_path / "files"
    files.mkdir()
    (files / f"{slug}.yaml").write_text(rubric(slug))
    _run("policies", "sync", "--dir", str(files))
    synced = _active(db, slug)
    tenant = f"cli-tenant-{slug}"
    execute(db, "INSERT INTO tenants (id, name) VALUES (gen_random_uuid(), :n)", n=tenant)

    (tmp_path / "own.yaml").write_text(rubric(slug, title="Own"))
    draft_id, *_ = _run("policies", "draft", str(tmp_path / "own.yaml"), "--tenant", tenant).split()
    published = _run("policies", "publish", draft_id)
    own = _active(db, slug, tenant)
    assert f"{slug} (tenant): {own} active (was {synced})" in published
    assert _active(db, slug) == synced  # the global one is untouched
    # the tenant's own versions are the only rollback targets under --tenant
    refused = CliRunner().invoke(main, ["policies", "rollback", slug, synced, "--tenant", tenant])
    assert refused.exit_code != 0 and f"no version {synced}" in refused.output
    missing = CliRunner().invoke(
        main, ["policies", "draft", str(tmp_path / "own.yaml"), "--tenant", "nobody-here"]
    )
    assert missing.exit_code != 0 and "no tenant 'nobody-here'" in missing.output
