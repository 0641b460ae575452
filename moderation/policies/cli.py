"""``moderation policies``: check, sync, draft, diff, publish, roll back, backtest."""

from __future__ import annotations

import getpass
import time
import uuid
from pathlib import Path

import click

from moderation.accounts.cli import tenant_id_of
from moderation.config import get_settings
from moderation.policies import authoring, backtests
from moderation.policies import backtest_repository as backtest_repo
from moderation.policies import draft_repository as policy_drafts
from moderation.policies.backtest_report import Report
from moderation.policies.catalog import UnknownPolicy
from moderation.policies.format import PolicyInvalid, parse_policy
from moderation.policies.models import PolicyDraft
from moderation.storage.db import read_scope, session_scope


def _db_url() -> str:
    url = get_settings().database_url
    if not url:
        raise click.ClickException("MODERATION_DATABASE_URL is not set")
    return url


def _author(tenant: str | None = None) -> authoring.Author:
    """The operator at the CLI, changing the global policies or, with ``tenant``, that
    tenant's own."""
    return authoring.Author(tenant_id_of(tenant), f"cli:{getpass.getuser()}")


TENANT_OPTION = click.option(
    "--tenant", default=None, help="a tenant's own policy (default: the global one)"
)


@click.group()
def policies() -> None:
    """Author policies: check, sync, draft, diff, publish, roll back, backtest."""


@policies.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def check(files: tuple[Path, ...]) -> None:
    """Validate policy files; print each problem as FILE:LINE: PATH: MESSAGE (exit 1 if any)."""
    failed = False
    for path in files:
        try:
            policy = parse_policy(path.read_text(encoding="utf-8"))
        except PolicyInvalid as exc:
            failed = True
            for p in exc.problems:
                click.echo(f"{path}:{p.line}: {p.path}: {p.message}", err=True)
            continue
        click.echo(f"{path}: ok ({policy.version})")
    if failed:
        raise SystemExit(1)


@policies.command("sync")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
def sync(directory: Path | None) -> None:
    """Load policies/*.yaml into immutable versions and activate them (no-op when unchanged)."""
    from moderation.admin import sync_policy_files

    try:
        results = sync_policy_files(_db_url(), directory or get_settings().policies_dir)
    except PolicyInvalid as exc:
        raise click.ClickException(str(exc)) from exc
    for r in results:
        state = "new" if r.created else ("activated" if r.activated else "unchanged")
        click.echo(f"{r.slug}: {r.version} ({state})")


def _create_draft(path: Path, tenant: str | None) -> PolicyDraft:
    text = path.read_text(encoding="utf-8")
    author = _author(tenant)
    try:
        with session_scope(_db_url()) as session:
            return authoring.create_draft(session, author, parse_policy(text).slug, text)
    except PolicyInvalid as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


def _draft(draft_ref: str) -> PolicyDraft:
    try:
        draft_id = uuid.UUID(draft_ref)
    except ValueError:
        raise click.ClickException(f"not a draft id: {draft_ref}") from None
    with read_scope(_db_url()) as session:
        draft = policy_drafts.get(session, draft_id)
    if draft is None:
        raise click.ClickException(f"no draft {draft_id}")
    return draft


@policies.command("draft")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@TENANT_OPTION
def draft(file: Path, tenant: str | None) -> None:
    """Store FILE as a draft of its global policy (or the tenant's own) and print its id."""
    created = _create_draft(file, tenant)
    click.echo(f"{created.id} {created.slug} {created.version} (base {created.base_version})")


@policies.command("diff")
@click.argument("draft_id")
def diff(draft_id: str) -> None:
    """Print the unified diff of the active version and a draft."""
    with session_scope(_db_url()) as session:
        result = authoring.diff_draft(session, _author(), _draft(draft_id))
    click.echo(result.diff or "(no change)", nl=False)


@policies.command("publish")
@click.argument("draft_id")
def publish(draft_id: str) -> None:
    """Publish a draft under its owner's policy: new submissions use its version at once."""
    with session_scope(_db_url()) as session:
        done = authoring.publish_draft(session, _author(), _draft(draft_id))
    click.echo(f"{done.slug} ({done.scope}): {done.version} active (was {done.previous})")


@policies.command("rollback")
@click.argument("slug")
@click.argument("version")
@TENANT_OPTION
def rollback(slug: str, version: str, tenant: str | None) -> None:
    """Activate an earlier VERSION of the global SLUG (or the tenant's own) again."""
    author = _author(tenant)
    try:
        with session_scope(_db_url()) as session:
            done = authoring.roll_back(session, author, slug, version)
    except UnknownPolicy as exc:
        raise click.ClickException(f"no version {exc} of policy {slug}") from exc
    click.echo(f"{done.slug} ({done.scope}): {done.version} active (was {done.previous})")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def format_report(report: Report) -> str:
    """The report as text: agreement, a per-category table, the flips."""
    lines = [
        f"items: {report.items}",
        f"agreement with reviewers: draft {_pct(report.agreement)}, "
        f"active {_pct(report.baseline_agreement)}",
        f"{'category':<10} {'count':>6} {'predicted':>9} {'precision':>9} {'recall':>7}",
    ]
    for c in report.categories:
        lines.append(
            f"{c.category:<10} {c.count:>6} {c.predicted:>9} "
            f"{_pct(c.precision):>9} {_pct(c.recall):>7}"
        )
    lines.append(f"flips against the active version: {len(report.flips)}")
    for f in report.flips:
        where = f.link or f.label
        lines.append(f"  {where}: {f.baseline.action} -> {f.draft.action}")
    return "\n".join(lines)


def _follow(db_url: str, run_id: uuid.UUID, total: int, poll_s: float) -> None:
    """A progress bar over the run's items until every one has a result."""
    with click.progressbar(length=total, label="backtest", show_eta=True) as bar:
        shown = 0
        while shown < total:
            time.sleep(poll_s)
            with read_scope(db_url) as session:
                done = backtest_repo.progress(session, run_id).done
            bar.update(done - shown)
            shown = done


@policies.command("backtest")
@click.argument("draft_ref")
@click.option(
    "--dataset",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="a folder with labels.csv (file, rating, category); default: reviewed submissions",
)
@click.option("--limit", type=int, default=500, show_default=True, help="reviewed submissions")
@click.option("--wait/--no-wait", default=True, show_default=True, help="follow and report")
@TENANT_OPTION
def backtest(
    draft_ref: str, dataset: Path | None, limit: int, wait: bool, tenant: str | None
) -> None:
    """Backtest DRAFT_REF (a draft id, or a policy file drafted first) on the backtest queue."""
    from moderation.outbox.broker import default_publish
    from moderation.outbox.relay import relay_outbox
    from moderation.policies.backtest_dataset import DatasetInvalid, dataset_images
    from moderation.storage.blobs import blob_store

    settings, db_url = get_settings(), _db_url()
    ref = Path(draft_ref)
    found = _create_draft(ref, tenant) if ref.is_file() else _draft(draft_ref)
    policy = authoring.draft_policy(found)
    try:
        with session_scope(db_url) as session:
            if dataset is None:
                images = backtests.reviewed_images(
                    session, found.slug, limit, found.created_by_tenant_id
                )
            else:
                blobs = blob_store(settings)
                images = dataset_images(
                    dataset, blobs, policy.category_ids, max_pixels=settings.max_image_pixels
                )
            run, messages = backtests.start_backtest(
                session,
                _author(),
                found,
                images,
                source="reviews" if dataset is None else "dataset",
                dataset=None if dataset is None else str(dataset.resolve()),
                chunk_size=settings.batch_size,
            )
    except (DatasetInvalid, backtests.NothingToBacktest) as exc:
        raise click.ClickException(str(exc)) from exc
    relay_outbox(db_url, default_publish(), messages)
    click.echo(f"backtest {run.id}: {run.total} items of draft {found.id} ({found.version})")
    if not wait:
        return
    _follow(db_url, run.id, run.total, poll_s=0.5)
    with read_scope(db_url) as session:
        status = backtests.backtest_status(session, run, found)
    click.echo(format_report(status.report))
    if status.failed:
        click.echo(
            f"{status.failed} items failed (see GET /v1/policies/{found.slug}/backtests/{run.id})"
        )
