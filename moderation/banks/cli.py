"""``moderation banks``: the operator manages global banks (no ``--tenant``) and a tenant's:
create, list, delete, import and export files of PDQ hashes (shapes: ``banks.transfer``)."""

from __future__ import annotations

import getpass
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click
from pydantic import ValidationError

from moderation.accounts.cli import tenant_id_of
from moderation.banks import service, transfer
from moderation.banks.schemas import BankIn
from moderation.banks.service import BankExists, BankNotFound, NewEntry, Owner
from moderation.config import get_settings
from moderation.storage.db import read_scope, session_scope

BATCH = 5000  # entries a transaction (9 columns: under Postgres's 65,535 parameters)

TENANT_OPTION = click.option(
    "--tenant", default=None, help="a tenant's bank (default: a global one, every tenant's uploads)"
)


def _db_url() -> str:
    url = get_settings().database_url
    if not url:
        raise click.ClickException("MODERATION_DATABASE_URL is not set")
    return url


def _owner(tenant: str | None) -> Owner:
    return Owner(tenant_id_of(tenant), f"cli:{getpass.getuser()}")


def _bank_id(owner: Owner, name: str) -> uuid.UUID:
    try:
        with read_scope(_db_url()) as session:
            return service.bank_named(session, owner, name).id
    except BankNotFound:
        scope = "global" if owner.tenant_id is None else "this tenant's"
        raise click.ClickException(f"no {scope} bank named '{name}'") from None


@click.group()
def banks() -> None:
    """Hash banks of known content: matched before the model."""


@banks.command("create")
@click.argument("name")
@click.option("--action", type=click.Choice(service.ACTIONS), required=True)
@click.option("--distance", type=int, default=None, help="largest PDQ distance that matches (31)")
@TENANT_OPTION
def create(name: str, action: str, distance: int | None, tenant: str | None) -> None:
    """Create a bank and print its id."""
    values: dict[str, Any] = {"name": name, "action": action}
    if distance is not None:
        values["distance"] = distance
    try:
        body = BankIn.model_validate(values)  # the API's rules
    except ValidationError as exc:
        first = exc.errors()[0]
        raise click.ClickException(f"{first['loc'][0]}: {first['msg']}") from None
    try:
        with session_scope(_db_url()) as session:
            made = service.create_bank(
                session, _owner(tenant), body.name, body.action, body.distance
            )
            click.echo(f"{made.id} {made.name}")
    except BankExists as exc:
        raise click.ClickException(str(exc)) from None


@banks.command("list")
@TENANT_OPTION
def list_banks(tenant: str | None) -> None:
    """The banks (global, or the tenant's): id, name, action, distance, entries."""
    with read_scope(_db_url()) as session:
        for bank, count in service.list_banks(session, _owner(tenant)):
            click.echo(f"{bank.id} {bank.name} {bank.action} {bank.distance} {count}")


@banks.command("delete")
@click.argument("name")
@TENANT_OPTION
@click.option("--yes", is_flag=True, help="do not ask")
def delete(name: str, tenant: str | None, yes: bool) -> None:
    """Delete a bank and all its entries (they stop matching at once)."""
    owner = _owner(tenant)
    bank_id = _bank_id(owner, name)
    if not yes:
        click.confirm(f"delete bank '{name}' and all its entries?", abort=True)
    with session_scope(_db_url()) as session:
        service.delete_bank(session, owner, bank_id)
    click.echo(f"deleted {name}")


@dataclass
class _Import:
    """An import's progress: what was added, skipped, refused."""

    owner: Owner
    bank_id: uuid.UUID
    source: str
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("imported", "duplicates", "other", "bad"), 0)
    )
    pending: list[NewEntry] = field(default_factory=list)

    def flush(self) -> None:
        """Add the pending entries in one transaction."""
        if not self.pending:
            return
        with session_scope(_db_url()) as session:
            bank = service.get_bank(session, self.owner, self.bank_id)
            added, dup = service.import_entries(
                session, self.owner, bank, self.pending, self.source
            )
        self.counts["imported"] += added
        self.counts["duplicates"] += dup
        self.pending = []


def _lines(handle: IO[bytes], bar: Any) -> Iterator[str]:
    for raw in handle:
        bar.update(len(raw))
        yield raw.decode("utf-8", errors="replace")


def _read_into(job: _Import, file: Path, lines: Iterator[str]) -> None:
    """Read the file's rows into the job, a transaction per BATCH entries; bad rows printed."""
    for row in transfer.read_rows(lines):
        if row.problem is not None:
            job.counts["bad"] += 1
            click.echo(f"\n{file}:{row.line}: {row.problem}", err=True)
        elif row.entry is None:
            job.counts["other"] += 1
        else:
            job.pending.append(row.entry)
            if len(job.pending) >= BATCH:
                job.flush()
    job.flush()


@banks.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bank", "bank_name", required=True, help="the bank's name")
@TENANT_OPTION
def import_file(file: Path, bank_name: str, tenant: str | None) -> None:
    """Add a file of PDQ hashes to a bank, a batch a transaction: HEX[,LABEL] or `pdq HEX`
    lines, ThreatExchange's dataset CSV (signal_type,signal_str,...) or JSON Lines
    ({"pdq": HEX, ...}). Bad rows are reported by line and the others imported; exit 1 if any
    row was bad."""
    owner = _owner(tenant)
    job = _Import(owner, _bank_id(owner, bank_name), f"import:{file.name}"[:200])
    with (
        file.open("rb") as handle,
        click.progressbar(length=file.stat().st_size, label="importing", file=sys.stderr) as bar,
    ):
        try:
            _read_into(job, file, _lines(handle, bar))
        except BankNotFound:
            raise click.ClickException(
                f"the bank was deleted during the import ({job.counts['imported']} rows "
                "had been imported into it)"
            ) from None
    with session_scope(_db_url()) as session:
        bank = service.get_bank(session, owner, job.bank_id)
        service.record_import(session, owner, bank, {"file": file.name, **job.counts})
    c = job.counts
    click.echo(
        f"imported {c['imported']}, skipped {c['duplicates']} duplicates, "
        f"skipped {c['other']} rows of other signal types, {c['bad']} bad rows"
    )
    if c["bad"]:
        click.echo(f"error: {c['bad']} bad rows were NOT imported (lines above)", err=True)
        raise SystemExit(1)


@banks.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8", lazy=True), default="-")
@click.option("--bank", "bank_name", required=True, help="the bank's name")
@click.option("--format", "fmt", type=click.Choice(transfer.FORMATS), default="csv")
@TENANT_OPTION
def export(file: IO[str], bank_name: str, fmt: str, tenant: str | None) -> None:
    """Write a bank's entries to FILE (default stdout): csv (signal_type,signal_str,label,
    action,md5,sha256; `import` reads it back), txt (`pdq HEX` lines) or jsonl."""
    owner = _owner(tenant)
    bank_id = _bank_id(owner, bank_name)
    with read_scope(_db_url()) as session:
        written = transfer.write_rows(file, service.all_entries(session, owner, bank_id), fmt)
    click.echo(f"exported {written} entries", err=True)
