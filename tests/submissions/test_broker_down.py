"""With the broker down, an upload is still accepted and kept until it can be sent."""

from __future__ import annotations

import time
from collections.abc import Callable

from moderation.admin import create_tenant_key
from moderation.config import Settings
from tests.support import images
from tests.support.db import rows
from tests.support.processes import free_port, start_api


def test_upload_is_accepted_and_kept_when_the_broker_is_down(
    make_db: Callable[[], str],
) -> None:
    from moderation.outbox.broker import create_celery, publisher

    db = make_db()  # its own outbox: no other relay may send this message
    key = create_tenant_key(db, "broker-down")
    dead = create_celery(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    settings = Settings(database_url=db)
    with start_api(settings, publish=publisher(dead)) as api, api.client(key) as client:
        response = client.post(
            "/v1/moderations", files={"image": ("a.png", images.png(seed=77), "image/png")}
        )
        assert response.status_code == 202, response.text
        sid = response.json()["id"]
        deadline = time.monotonic() + 20
        query = "SELECT sent_at, attempts FROM outbox WHERE args->>'submission_id' = :s"
        while (row := rows(db, query, s=sid)[0])["attempts"] < 1:  # the relay tried
            assert time.monotonic() < deadline, row
            time.sleep(0.2)
    assert row["sent_at"] is None
    assert rows(db, "SELECT status FROM submissions WHERE id = :s", s=sid) == [{"status": "queued"}]
