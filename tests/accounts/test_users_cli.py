"""`moderation users create`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from moderation.cli import main
from moderation.config import get_settings
from tests.support.db import rows


@pytest.fixture
def cli(db: str) -> Iterator[CliRunner]:
    """A runner on the suite's database (MODERATION_DATABASE_URL is the suite's)."""
    get_settings.cache_clear()
    yield CliRunner()


def _create(cli: CliRunner, *args: str, input: str) -> Result:
    return cli.invoke(main, ["users", "create", *args], input=input)


def test_create_with_a_prompted_password_stores_an_argon2_hash(db: str, cli: CliRunner) -> None:
    email = f"Ann-{uuid.uuid4().hex[:6]}@Example.test"
    result = _create(cli, email, "--role", "admin", input="long enough pw\nlong enough pw\n")
    assert result.exit_code == 0, result.output
    [user] = rows(db, "SELECT role, tenant_id, password_hash FROM users WHERE email = :e", e=email)
    assert user["role"] == "admin" and user["tenant_id"] is None
    assert str(user["password_hash"]).startswith("$argon2id$")
    again = _create(cli, email.lower(), "--role", "reviewer", input="long enough pw\n" * 2)
    assert again.exit_code != 0 and "unused email" in again.output


def test_create_for_a_tenant_from_stdin(db: str, cli: CliRunner) -> None:
    from moderation.admin import create_tenant_key

    tenant = f"cli-{uuid.uuid4().hex[:6]}"
    create_tenant_key(db, tenant)
    email = f"rev-{uuid.uuid4().hex[:6]}@example.test"
    args = [email, "--role", "reviewer", "--tenant", tenant, "--password-stdin"]
    assert _create(cli, *args, input="from stdin 123\n").exit_code == 0
    [user] = rows(
        db,
        "SELECT t.name FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.email = :e",
        e=email,
    )
    assert user["name"] == tenant
    unknown = _create(cli, "x@example.test", "--role", "reviewer", "--tenant", "nope", input="")
    assert unknown.exit_code != 0 and "no tenant" in unknown.output
    short = _create(cli, "y@example.test", "--role", "reviewer", "--password-stdin", input="x\n")
    assert short.exit_code != 0 and "at least" in short.output
