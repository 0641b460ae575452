"""The llavaguard model profile through the whole service: a real worker, Postgres, the API.

In a module of its own: the end-to-end module's workers (generic profile) would share the queue.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import Keys
from tests.e2e.checks import assert_matches_database, assert_valid_decision
from tests.support import images
from tests.support.processes import ApiServer, start_worker, wait_for_status


def test_under_the_llavaguard_profile_the_model_writes_its_labels_and_we_answer_ours(
    checkpoints: dict[str, Path],
    api: ApiServer,
    keys: Keys,
    db: str,
    tmp_path: Path,
) -> None:
    """``MODERATION_MODEL_PROFILE=llavaguard``: LlavaGuard's prompt and labels for the model,
    our ids in the API answer and the decision row, the model's own text kept."""
    log = tmp_path / "worker.log"
    profile = {"MODERATION_MODEL_PROFILE": "llavaguard"}
    with start_worker(log, checkpoints["llava_onevision"], **profile) as process:
        with api.client(keys.a) as client:
            created = client.post(
                "/v1/moderations",
                files={"image": ("guard.png", images.png(64, 48, seed=27), "image/png")},
                data={"policy": "llavaguard"},
            )
            assert created.status_code == 202, created.text
            body = wait_for_status(client, created.json()["id"], ("decided", "failed"), timeout=90)
            health = client.get("/healthz").json()
        assert process.alive()
    assert body["status"] == "decided", body
    assert_valid_decision(body)  # our ids: safe/unsafe, O1..O9 or null, scores per id
    row = assert_matches_database(db, body)
    assert body["decision"]["model"]["profile"] == "llavaguard"
    written = json.loads(row["raw_text"])
    assert row["raw_text"] == json.dumps(written, indent=4)  # LlavaGuard's layout
    assert written["rating"] in ("Safe", "Unsafe")
    assert written["category"] == "NA: None applying" or re.fullmatch(
        r"O[1-9]: .+", written["category"]
    )
    (entry,) = [w for w in health["workers"] if w["name"].endswith(f":{process.proc.pid}")]
    assert entry["profile"] == "llavaguard"
    assert "asked the llavaguard way (set by MODERATION_MODEL_PROFILE)" in log.read_text()
