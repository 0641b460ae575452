"""Shared by the end-to-end tests."""

from __future__ import annotations

import pytest

from tests.conftest import Env


@pytest.fixture(autouse=True)
def empty_inference_queue(env: Env) -> None:
    """Earlier tests leave messages for submissions nobody waits for (the suite's API relays
    every outbox row); drop them so that what a test counts or waits for is its own work
    (their rows stay for the sweeper)."""
    from moderation.outbox.queues import INFERENCE_QUEUE
    from workers.app import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(INFERENCE_QUEUE)
