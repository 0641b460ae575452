"""Review fixtures: a database of the package's own (no relay sends its outbox) and decided
submissions of a fresh tenant, recorded through the worker's own verdict path."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from moderation.config import get_settings
from tests.conftest import Env
from tests.review.support import Batch, decided


@pytest.fixture(scope="package")
def db(make_db: Callable[[], str]) -> str:
    """A database of this package's own: queue-wide counts see only what these tests made."""
    return make_db()


@pytest.fixture
def make_batch(env: Env, db: str) -> Callable[..., Batch]:
    """``make_batch(["review", "allow", ...], policy="default")``: a new tenant's decided
    submissions, one per wanted action."""
    return lambda actions, policy="default": decided(db, env.data_dir / "blobs", actions, policy)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """``configure(NAME, value)``: set a MODERATION_* variable for one test (settings re-read)."""

    def set_env(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield set_env
    monkeypatch.undo()
    get_settings.cache_clear()
