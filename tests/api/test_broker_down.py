"""With the broker down, an upload is still accepted and kept for the sweeper."""

from __future__ import annotations

from tests.conftest import Keys
from tests.support import images
from tests.support.db import rows
from tests.support.processes import free_port, start_api


def test_upload_is_accepted_and_kept_when_the_broker_is_down(db: str, keys: Keys) -> None:
    from workers.app import create_celery, publisher

    dead = create_celery(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    with start_api(publish=publisher(dead)) as api, api.client(keys.a) as client:
        response = client.post(
            "/v1/moderations", files={"image": ("a.png", images.png(seed=77), "image/png")}
        )
    assert response.status_code == 202, response.text
    sid = response.json()["id"]
    (row,) = rows(
        db, "SELECT sent_at, attempts FROM outbox WHERE args->>'submission_id' = :s", s=sid
    )
    assert row["sent_at"] is None and row["attempts"] == 1
    assert rows(db, "SELECT status FROM submissions WHERE id = :s", s=sid) == [{"status": "queued"}]
