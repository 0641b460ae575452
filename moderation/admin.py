"""Operator actions shared by the CLI, standalone mode and tests: migrate, sync, tenants, keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session

from moderation.accounts import api_key_repository as api_keys
from moderation.accounts import tenant_repository as tenants
from moderation.accounts.api_keys import issue_key
from moderation.accounts.keys import ALL_SCOPES
from moderation.accounts.models import ApiKey, Tenant
from moderation.policies.catalog import SyncResult, sync_policies
from moderation.storage.db import session_scope

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
    """Create a tenant (or reuse it when ``existing_ok``) and a key with every scope."""
    with session_scope(db_url) as session:
        tenant = tenants.get_by_name(session, name)
        if tenant is not None and not existing_ok:
            raise ValueError(f"tenant '{name}' already exists")
        tenant = tenant or tenants.create(session, name)
        return issue_key(session, tenant.id, ALL_SCOPES, name="tenant key").plaintext


def _tenant(session: Session, name: str) -> Tenant:
    tenant = tenants.get_by_name(session, name)
    if tenant is None:
        raise ValueError(f"no tenant '{name}'")
    return tenant


def create_key(db_url: str, tenant: str, scopes: Sequence[str], name: str | None) -> str:
    """A new key of an existing tenant with these scopes; returns its plaintext (shown once)."""
    with session_scope(db_url) as session:
        return issue_key(session, _tenant(session, tenant).id, scopes, name).plaintext


def list_keys(db_url: str, tenant: str) -> list[ApiKey]:
    """A tenant's keys (prefixes and hashes only), revoked ones included."""
    with session_scope(db_url) as session:
        return api_keys.for_tenant(session, _tenant(session, tenant).id)


def revoke_key(db_url: str, key_id: uuid.UUID) -> None:
    """Revoke a key at once (ValueError when there is no such key)."""
    with session_scope(db_url) as session:
        if not api_keys.revoke(session, key_id):
            raise ValueError(f"no API key with id '{key_id}'")
