"""Tenant rows (their API keys are in ``api_keys``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from moderation.accounts.models import Tenant


def get_by_name(session: Session, name: str) -> Tenant | None:
    """The tenant with this name, if any."""
    return session.scalar(select(Tenant).where(Tenant.name == name))


def create(session: Session, name: str) -> Tenant:
    """Insert a tenant."""
    tenant = Tenant(id=uuid.uuid4(), name=name)
    session.add(tenant)
    session.flush()
    return tenant
