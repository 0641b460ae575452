"""App-wide request dependencies shared by the JSON API and the console: settings, database
URL, blob store."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from moderation.config import Settings
from moderation.storage.blobs import BlobStore, blob_store


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_db_url(settings: SettingsDep) -> str:
    """The database URL of this app."""
    assert settings.database_url, "create_app checks the database URL"
    return settings.database_url


DbUrlDep = Annotated[str, Depends(get_db_url)]


async def get_blobs(settings: SettingsDep) -> BlobStore:
    """The blob store of this app."""
    return blob_store(settings)


BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
