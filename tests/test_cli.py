"""The ``moderation`` command against the real database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from moderation.accounts.keys import ALL_SCOPES, hash_key
from moderation.cli import main
from tests.support.db import rows
from tests.support.processes import ApiServer


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_tenants_create_prints_a_key_once_and_stores_only_its_hash(db: str) -> None:
    key = _run("tenants", "create", "cli-tenant").strip()
    assert key.startswith("mod_") and len(key) > 30
    stored = rows(
        db,
        "SELECT k.key_hash, k.prefix FROM api_keys k JOIN tenants t ON t.id = k.tenant_id "
        "WHERE t.name = 'cli-tenant'",
    )
    assert stored == [{"key_hash": hash_key(key), "prefix": key[:12]}]
    (scopes,) = rows(
        db,
        "SELECT k.scopes FROM api_keys k JOIN tenants t ON t.id = k.tenant_id "
        "WHERE t.name = 'cli-tenant'",
    )
    assert sorted(scopes["scopes"]) == sorted(ALL_SCOPES)
    assert key not in json.dumps(rows(db, "SELECT * FROM api_keys"), default=str)
    again = CliRunner().invoke(main, ["tenants", "create", "cli-tenant"])
    assert again.exit_code != 0 and "already exists" in again.output


def _fails(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code != 0
    return result.output


def test_keys_create_list_revoke(db: str, api: ApiServer) -> None:
    _run("tenants", "create", "cli-keys")
    key = _run(
        "keys", "create", "--tenant", "cli-keys", "--scope", "moderations:read", "--name", "ro"
    ).strip()
    assert key.startswith("mod_")
    lines = _run("keys", "list", "--tenant", "cli-keys").splitlines()
    assert len(lines) == 2 and key not in "\n".join(lines)
    (line,) = [x for x in lines if f"{key[:12]}…" in x]
    key_id = line.split()[0]
    assert "  ro  moderations:read  created " in line and line.endswith("revoked -")
    with api.client(key) as client:
        assert client.get(f"/v1/moderations/{uuid.uuid4()}").status_code == 404
        assert f"revoked {key_id}" in _run("keys", "revoke", key_id)
        assert client.get(f"/v1/moderations/{uuid.uuid4()}").status_code == 401
    (line,) = [x for x in _run("keys", "list", "--tenant", "cli-keys").splitlines() if key_id in x]
    assert not line.endswith("revoked -")


def test_keys_commands_refuse_unknown_tenants_keys_and_scopes(db: str) -> None:
    assert "no tenant 'nobody'" in _fails("keys", "list", "--tenant", "nobody")
    assert "no tenant" in _fails("keys", "create", "--tenant", "nobody", "--scope", "keys:write")
    assert "no API key" in _fails("keys", "revoke", str(uuid.uuid4()))
    assert "everything" in _fails("keys", "create", "--tenant", "x", "--scope", "everything")
    assert "--scope" in _fails("keys", "create", "--tenant", "x")


def test_policies_sync_is_a_no_op_when_unchanged(db: str) -> None:
    before = rows(db, "SELECT count(*) AS n FROM policy_versions")
    output = _run("policies", "sync")
    assert "default: default-" in output and "(unchanged)" in output and "(new)" not in output
    assert rows(db, "SELECT count(*) AS n FROM policy_versions") == before


def test_policies_sync_adds_and_activates_a_changed_rubric(db: str, tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parent.parent / "policies" / "marketplace.yaml").read_text()
    (tmp_path / "marketplace.yaml").write_text(text.replace("slug: marketplace", "slug: shop"))
    assert "shop: shop-" in _run("policies", "sync", "--dir", str(tmp_path))
    (tmp_path / "marketplace.yaml").write_text(
        text.replace("slug: marketplace", "slug: shop").replace("block_at: 0.6", "block_at: 0.65")
    )
    _run("policies", "sync", "--dir", str(tmp_path))
    versions = rows(db, "SELECT version FROM policy_versions WHERE slug = 'shop'")
    active = rows(db, "SELECT active_version FROM policies WHERE slug = 'shop'")
    assert len(versions) == 2
    assert active[0]["active_version"] in {v["version"] for v in versions}


@pytest.mark.parametrize("arch", ["llava", "llava_next", "llava_onevision"])
def test_models_build_tiny(arch: str, tmp_path: Path) -> None:
    out = tmp_path / arch
    assert "random weights" in _run("models", "build-tiny", "--arch", arch, "--out", str(out))
    assert (out / "config.json").exists() and (out / "moderation_checkpoint.json").exists()


def test_commands_need_a_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from moderation.config import get_settings

    monkeypatch.delenv("MODERATION_DATABASE_URL")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["migrate"])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code != 0 and "MODERATION_DATABASE_URL" in result.output


@pytest.mark.parametrize("queues", ["inference", "backtest", "maintenance,inference"])
def test_a_model_queue_refuses_the_prefork_pool(queues: str) -> None:
    result = CliRunner().invoke(main, ["worker", "--queues", queues, "--pool", "prefork"])
    assert result.exit_code == 2, result.output
    assert "need --pool solo:" in result.output
