"""``moderation relay``: the outbox relay in its own process, for APIs run without the thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

from moderation.config import Settings
from tests.conftest import ROOT
from tests.support import images
from tests.support.db import rows
from tests.support.processes import start_api


def _sent(db: str, submission_id: str) -> bool:
    found = rows(
        db,
        "SELECT sent_at FROM outbox WHERE args->>'submission_id' = :s",
        s=submission_id,
    )
    return bool(found) and found[0]["sent_at"] is not None


def test_relay_process_sends_what_an_api_without_relay_accepted(
    make_db: Callable[[], str],
) -> None:
    from moderation.admin import create_tenant_key

    db = make_db()  # an outbox no other relay of the suite listens to
    key = create_tenant_key(db, "relay-process")
    settings = Settings(database_url=db, relay_in_api=False)
    with start_api(settings) as api, api.client(key) as client:
        created = client.post(
            "/v1/moderations", files={"image": ("r.jpg", images.jpeg(seed=95), "image/jpeg")}
        )
        assert created.status_code == 202, created.text
        sid = created.json()["id"]
        time.sleep(1.0)
        assert not _sent(db, sid), "no relay runs yet: nothing may send it"
        relay = subprocess.Popen(
            [sys.executable, "-m", "moderation.cli", "relay"],
            env={**os.environ, "MODERATION_DATABASE_URL": db},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not _sent(db, sid):
                assert relay.poll() is None, "the relay exited"
                assert time.monotonic() < deadline, "the relay did not send the message"
                time.sleep(0.1)
        finally:
            relay.terminate()
            assert relay.wait(timeout=20) == 0  # SIGTERM: a clean stop
