"""The Celery publisher against the real broker: a batch is one delivery when it ends."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.conftest import Env
from tests.support.processes import free_port


def test_a_batch_is_delivered_when_it_ends(env: Env) -> None:
    from moderation.outbox.broker import create_celery, publisher

    celery = create_celery(env.broker_url)
    publish = publisher(celery)
    queue = f"test-publish-{uuid.uuid4().hex[:8]}"  # no worker consumes it
    with celery.connection_for_write() as conn:
        client = conn.default_channel.client
        try:
            with publish.batch():
                for i in range(3):
                    publish("inference.moderate", queue, {"submission_id": f"s{i}"})
                assert client.llen(queue) == 0  # held until the batch ends
            assert client.llen(queue) == 3
            publish("inference.moderate", queue, {"submission_id": "alone"})  # no batch: now
            assert client.llen(queue) == 4
            messages = [json.loads(client.rpop(queue)) for _ in range(4)]
        finally:
            client.delete(queue)
    assert [m["headers"]["task"] for m in messages] == ["inference.moderate"] * 4
    assert [m["headers"]["kwargsrepr"] for m in messages] == [
        repr({"submission_id": s}) for s in ("s0", "s1", "s2", "alone")
    ]


def test_a_batch_to_a_dead_broker_raises_and_the_next_send_starts_afresh() -> None:
    from moderation.outbox.broker import create_celery, publisher

    publish = publisher(create_celery(f"redis://127.0.0.1:{free_port()}/0"))  # nobody there
    started = time.monotonic()
    with pytest.raises(Exception, match=r"(?i)connect|refused"), publish.batch():
        publish("inference.moderate", "inference", {"submission_id": "x"})
    assert time.monotonic() - started < 15
    assert publish._kept is None  # a new producer (and connection) next time
