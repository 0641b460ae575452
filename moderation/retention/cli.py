"""``moderation images purge``: one purge round now."""

from __future__ import annotations

import click

from moderation.config import get_settings
from moderation.retention.purge import purge_round
from moderation.storage.blobs import blob_store


@click.group()
def images() -> None:
    """Image retention."""


@images.command("purge")
def images_purge() -> None:
    """Run one purge round now (the maintenance queue runs one every
    MODERATION_IMAGE_PURGE_INTERVAL_S) and print what it did."""
    settings = get_settings()
    if not settings.database_url:
        raise click.ClickException("MODERATION_DATABASE_URL is not set")
    report = purge_round(settings.database_url, blob_store(settings), settings)
    click.echo(report.describe())
