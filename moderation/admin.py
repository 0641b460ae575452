"""Operator actions shared by the CLI, standalone mode and tests: migrate, sync, tenants."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from moderation.domain.keys import generate_api_key
from moderation.domain.policy_catalog import SyncResult, sync_policies
from moderation.storage.db import session_scope
from moderation.storage.repositories import tenants

REPO_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(db_url: str) -> Config:
    """Alembic configuration for ``migrations/`` pointed at ``db_url``."""
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.attributes["url"] = db_url
    config.attributes["configure_logger"] = False
    return config


def migrate(db_url: str) -> None:
    """Apply all migrations (``alembic upgrade head``)."""
    command.upgrade(alembic_config(db_url), "head")


def sync_policy_files(db_url: str, directory: Path) -> list[SyncResult]:
    """Load the rubric files of ``directory`` into policy versions."""
    with session_scope(db_url) as session:
        return sync_policies(session, directory)


def create_tenant_key(db_url: str, name: str, *, existing_ok: bool = False) -> str:
    """Create a tenant (or reuse it when ``existing_ok``) and a new API key; returns the key."""
    key = generate_api_key()
    with session_scope(db_url) as session:
        tenant = tenants.get_by_name(session, name)
        if tenant is not None and not existing_ok:
            raise ValueError(f"tenant '{name}' already exists")
        tenant = tenant or tenants.create(session, name)
        tenants.add_key(session, tenant.id, key.prefix, key.key_hash)
    return key.plaintext
