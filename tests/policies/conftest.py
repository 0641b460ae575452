"""Fixtures of the policy tests: a real tiny engine and the flow that decides submissions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moderation.storage.blobs import FileBlobStore
from moderation.submissions.moderation_flow import FlowContext, moderate_submissions_flow
from tests.conftest import Env


@pytest.fixture(scope="session")
def tiny_engine(checkpoints: dict[str, Path]) -> Any:
    """The llava tiny checkpoint loaded in this process (the backtest worker serves the same)."""
    from moderation.inference import load_engine

    return load_engine(str(checkpoints["llava"]), warm_up=False)


@pytest.fixture
def decide(env: Env, db: str, tiny_engine: Any) -> Callable[[list[str]], None]:
    """Run the live moderation flow on submissions now, in this process."""

    def run(ids: list[str]) -> None:
        ctx = FlowContext(db, FileBlobStore(env.data_dir / "blobs"), 10**7, 3)
        report = moderate_submissions_flow(ctx, tiny_engine, [uuid.UUID(i) for i in ids])
        assert sorted(map(str, report.decided + report.cached)) == sorted(ids), report

    return run
