"""Fault tests run on their own database, broker and data directory, with fast recovery
settings, so stopping or wiping a service never touches the suite's shared ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.fault_runs import Stack
from tests.support.services import RestartableRedis


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    """A data directory (blobs, beat schedule) of this test's own."""
    path = tmp_path / "data"
    path.mkdir()
    yield path


@pytest.fixture
def redis() -> Iterator[RestartableRedis]:
    """A broker of this test's own (it may be wiped)."""
    with ExitStack() as stack:
        yield RestartableRedis(stack)


@pytest.fixture
def stack(make_db: Callable[[], str], redis: RestartableRedis, stack_dir: Path) -> Stack:
    """A fresh database on the suite's server, this test's broker and data directory."""
    return Stack(make_db(), redis.url, stack_dir)
