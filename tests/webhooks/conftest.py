"""Webhook fixtures: a recording HTTP receiver, an API that may send to loopback, tenants."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.processes import ApiServer, start_api
from tests.support.receiver import Receiver, start_receiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on loopback."""
    with start_receiver() as server:
        yield server


@pytest.fixture(scope="module")
def loopback_api(db: str) -> Iterator[ApiServer]:
    """The API with MODERATION_ALLOW_PRIVATE_URLS on (the receiver lives on loopback)."""
    from moderation.config import Settings

    with start_api(Settings(allow_private_urls=True)) as server:
        yield server


@pytest.fixture
def new_key(db: str) -> Callable[[], str]:
    """Make a fresh tenant and return its API key."""
    from moderation.admin import create_tenant_key

    return lambda: create_tenant_key(db, f"webhooks-{uuid.uuid4().hex[:8]}")


def create_endpoint(client: httpx.Client, url: str, *events: str) -> dict[str, object]:
    """POST /v1/webhook-endpoints; asserts 201 and returns the body."""
    response = client.post(
        "/v1/webhook-endpoints", json={"url": url, "events": list(events) or ["moderation.decided"]}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body
