"""Request dependencies: settings, database URL, blob store, the calling tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from moderation.api.errors import ApiError
from moderation.config import Settings
from moderation.domain.dispatch import Publish
from moderation.domain.keys import hash_key
from moderation.domain.secrets import SecretBox
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import read_scope
from moderation.storage.models import Tenant
from moderation.storage.repositories import tenants


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def get_db_url(settings: SettingsDep) -> str:
    """The database URL of this app."""
    assert settings.database_url, "create_app checks the database URL"
    return settings.database_url


DbUrlDep = Annotated[str, Depends(get_db_url)]


def get_blobs(settings: SettingsDep) -> FileBlobStore:
    """The blob store of this app."""
    return FileBlobStore(settings.resolved_blob_dir)


BlobsDep = Annotated[FileBlobStore, Depends(get_blobs)]


def get_secret_box(settings: SettingsDep) -> SecretBox:
    """Seals secrets stored at rest with the server key."""
    return SecretBox(settings.secret_key.get_secret_value())


SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]


def resolve_publish(app: FastAPI) -> Publish:
    """How this app sends task messages (the Celery app of ``workers`` unless injected)."""
    publish: Publish | None = app.state.publish
    if publish is None:
        from workers.app import publish as celery_publish

        publish = app.state.publish = celery_publish
    return publish


_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


def current_tenant(request: Request, db_url: DbUrlDep) -> Tenant:
    """The tenant of the API key in ``Authorization: Bearer <key>`` (401 otherwise)."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send 'Authorization: Bearer <key>'",
            _UNAUTHORIZED,
        )
    with read_scope(db_url) as session:
        tenant = tenants.tenant_for_key_hash(session, hash_key(key.strip()))
    if tenant is None:
        raise ApiError(401, "unauthorized", "invalid or revoked API key", _UNAUTHORIZED)
    return tenant


TenantDep = Annotated[Tenant, Depends(current_tenant)]
