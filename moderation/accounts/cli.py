"""``moderation users`` (console accounts) and ``moderation audit`` (verify the trail)."""

from __future__ import annotations

import sys
import uuid

import click

from moderation.accounts import tenant_repository as tenants
from moderation.accounts import users as accounts
from moderation.accounts.users import ROLES
from moderation.audit import chain as audit_chain
from moderation.config import get_settings
from moderation.storage.db import read_scope, session_scope


def _db_url() -> str:
    url = get_settings().database_url
    if not url:
        raise click.ClickException("MODERATION_DATABASE_URL is not set")
    return url


def tenant_id_of(name: str | None) -> uuid.UUID | None:
    """The id of the tenant named ``name`` (None for None; a click error for no such tenant)."""
    if name is None:
        return None
    with read_scope(_db_url()) as session:
        tenant = tenants.get_by_name(session, name)
    if tenant is None:
        raise click.ClickException(f"no tenant '{name}'")
    return tenant.id


@click.group()
def users() -> None:
    """Console accounts (reviewers, policy authors, admins)."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--tenant", default=None, help="tenant name; omit for an account over all tenants")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin (scripts)")
def users_create(email: str, role: accounts.Role, tenant: str | None, password_stdin: bool) -> None:
    """Create an account; the password is prompted for (hidden, asked twice)."""
    tenant_id = tenant_id_of(tenant)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with session_scope(_db_url()) as session:
            user = accounts.create_user(session, email, password, role, tenant_id)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {role} {user.email} ({tenant or 'all tenants'}) id {user.id}")


@click.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@click.option("--tenant", default=None, help="tenant name; default: every chain")
def audit_verify(tenant: str | None) -> None:
    """Recompute each tenant's hash chain; report the first row that does not hold (exit 1)."""
    tenant_id = tenant_id_of(tenant)
    chain = None if tenant_id is None else str(tenant_id)
    with session_scope(_db_url()) as session:
        # one snapshot for the heads and the rows, whatever is appended meanwhile
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        result = audit_chain.verify(session, chain)
    if result.broken is not None:
        b = result.broken
        click.echo(
            f"TAMPERED chain {b.chain or '(no tenant)'} row {b.row_id}: {b.reason} "
            f"({result.rows} rows verified before it)",
            err=True,
        )
        sys.exit(1)
    click.echo(f"ok {result.rows} rows")
