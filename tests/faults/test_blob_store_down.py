"""The S3 blob store end to end, and stopped mid-run: uploads go to a real SeaweedFS and are
decided, the console shows their image, nothing is written under the blob directory; with the
store stopped uploads answer 503 with Retry-After and the worker gives its claims back (no
attempt used); once it is back, everything accepted is decided."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from moderation.outbox.broker import create_celery, publisher
from tests.console.support import make_account, signed_in
from tests.support import images
from tests.support.db import rows
from tests.support.fault_runs import Stack, new_tenant_key, wait_final
from tests.support.processes import ApiServer, start_api, start_worker
from tests.support.seaweedfs import SeaweedS3


@pytest.fixture
def weed(tmp_path: Path) -> Iterator[SeaweedS3]:
    """A SeaweedFS of this test's own (it is stopped and started again)."""
    server = SeaweedS3(tmp_path / "weed")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _upload(api: ApiServer, key: str, seed: int) -> httpx.Response:
    with api.client(key) as client:
        image = images.png(seed=seed)
        return client.post("/v1/moderations", files={"image": ("a.png", image, "image/png")})


def test_s3_store_end_to_end_and_stopped_mid_run(
    stack: Stack, weed: SeaweedS3, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    bucket = f"moderation-{uuid.uuid4().hex[:8]}"
    weed.create_bucket(bucket)
    s3_env = {**weed.settings_env(bucket, prefix="blobs/"), "MODERATION_S3_TIMEOUT_S": "2"}
    env = stack.env(**s3_env)
    settings = stack.settings(
        **{k.removeprefix("MODERATION_").lower(): v for k, v in s3_env.items()}
    )
    key = new_tenant_key(stack.db)
    publish = publisher(create_celery(stack.broker))
    with start_api(settings, publish=publish) as api:
        accepted = [_upload_retrying(api, key, seed) for seed in range(300, 303)]
        assert [r.status_code for r in accepted] == [202] * 3
        ids = [r.json()["id"] for r in accepted]

        weed.stop()  # before any worker ran: their images are now out of reach
        refused = [_upload(api, key, seed) for seed in range(310, 313)]
        assert [r.status_code for r in refused] == [503] * 3
        assert all(r.headers.get("retry-after") for r in refused)
        assert all(r.json()["error"]["code"] == "unavailable" for r in refused)
        with httpx.Client(base_url=api.url) as client:
            health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["blob_store"]["status"].startswith("error")
        (count,) = rows(stack.db, "SELECT count(*) AS n FROM submissions")
        assert count["n"] == 3  # no row without its object

        with start_worker(
            tmp_path / "w.log", checkpoints["llava"], "inference", stack_env=env
        ) as worker:
            worker.wait_for_log("blob store unavailable", timeout=120)
            assert all(s["status"] == "queued" for s in _states(stack.db, ids))
            weed.start()
            more = [_upload_retrying(api, key, seed) for seed in range(320, 323)]
            assert [r.status_code for r in more] == [202] * 3
            ids += [r.json()["id"] for r in more]
            final = wait_final(stack.db, ids, timeout=180)
        assert {s["status"] for s in final.values()} == {"decided"}, final
        assert all(s["attempts"] == 1 for s in _states(stack.db, ids))  # outage used none

        account = make_account(stack.db, "admin")
        with httpx.Client(base_url=api.url) as console:
            signed_in(console, account)  # type: ignore[arg-type]
            shown = console.get(f"/review/items/{ids[0]}/image")
        assert shown.status_code == 200
        assert shown.content == images.png(seed=300)
    assert not (stack.data_dir / "blobs").exists()  # s3: no file under the blob directory


def _upload_retrying(api: ApiServer, key: str, seed: int, tries: int = 10) -> httpx.Response:
    """As a client would: again after a 503's Retry-After (SeaweedFS grows a volume for a
    bucket's first write, which may take longer than the timeout)."""
    for _ in range(tries - 1):
        response = _upload(api, key, seed)
        if response.status_code != 503:
            return response
        time.sleep(float(response.headers["retry-after"]))
    return _upload(api, key, seed)


def _states(db: str, ids: list[str]) -> list[dict[str, object]]:
    return rows(
        db,
        "SELECT status, attempts FROM submissions WHERE id = ANY(CAST(:ids AS uuid[]))",
        ids=ids,
    )
