"""A console client on the suite's database (TestClient: no relay thread, no network)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from moderation.app import create_app
from moderation.config import Settings
from tests.conftest import Env
from tests.review.support import Batch, decided


def _no_publish(task: str, queue: str, args: dict[str, object], headers: object = None) -> None:
    raise AssertionError("the console sends no task messages")


@pytest.fixture(scope="module")
def console_app(db: str) -> FastAPI:
    """The API with the console mounted at /review."""
    return create_app(Settings(relay_in_api=False), publish=_no_publish)


@pytest.fixture
def new_client(console_app: FastAPI) -> Iterator[Callable[[], TestClient]]:
    """Makes browser-like clients, each with its own cookie jar."""
    clients: list[TestClient] = []

    def make() -> TestClient:
        clients.append(TestClient(console_app, base_url="http://testserver"))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def make_batch(env: Env, db: str) -> Callable[..., Batch]:
    """``make_batch(["review", "allow", ...], rationale=...)``: a new tenant's decided
    submissions, one per wanted action."""
    return lambda actions, **kw: decided(db, env.data_dir / "blobs", actions, **kw)
