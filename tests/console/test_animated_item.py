"""The item page of an animated image: the judged frames listed, each shown blurred like the
image, served only for the frames the decision lists and only to whom may see the item."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient
from PIL import Image

from moderation.accounts import tenant_repository as tenants
from moderation.policies.catalog import policy_version
from moderation.storage.db import session_scope
from moderation.submissions.images import inspect_image
from moderation.submissions.types import SubmissionRef
from moderation.submissions.verdicts import VerdictToRecord, record_verdicts
from tests.conftest import Env
from tests.console.pages import Reviewer, element_text
from tests.console.support import make_account, make_tenant
from tests.review.support import MODEL, Batch, fixed_verdict
from tests.support import images
from tests.support.intake import accept_data

Clients = Callable[[], TestClient]
FRAMES = [
    {"index": 0, "offset_ms": 0, "rating": "safe", "category": None, "unsafe": 0.1},
    {"index": 3, "offset_ms": 300, "rating": "unsafe", "category": "O2", "unsafe": 0.5},
]


def _decided_animation(env: Env, db: str) -> tuple[uuid.UUID, uuid.UUID]:
    data = images.animation(64, 48, seed=41, frames=5)
    info = inspect_image(data, max_bytes=10**6, max_pixels=10**6)
    name = f"console-animated-{uuid.uuid4().hex[:6]}"
    received = accept_data(db, env.data_dir / "blobs", data, name, info=info)
    with session_scope(db) as session:
        tenant = tenants.get_by_name(session, name)
        assert tenant is not None
        sub = SubmissionRef(received.id, tenant.id, info.sha256, received.policy_version, 1)
        policy = policy_version(session, received.policy_version)
        item = VerdictToRecord(sub, policy, fixed_verdict("review"), MODEL, frames=FRAMES)
        assert set(record_verdicts(session, [item])) == {received.id}
        return tenant.id, received.id


def test_the_item_page_shows_the_judged_frames_blurred(
    env: Env, db: str, new_client: Clients
) -> None:
    tenant_id, sid = _decided_animation(env, db)
    reviewer = Reviewer(new_client(), make_account(db, "reviewer", tenant_id))
    page = reviewer.item(sid)
    frames = element_text(page, "frames")
    assert "Frames judged (2)" in frames
    assert "#3 · 300 ms · unsafe · O2 — Violence, harm or cruelty · P(unsafe) 0.500" in frames
    for index in (0, 3):
        src = f"/review/items/{sid}/frames/{index}"
        assert f'<img class="thumb blurred" loading="lazy" src="{src}"' in page
        shown = reviewer.client.get(src)
        assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
        assert shown.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(shown.content)).size == (64, 48)
    assert reviewer.client.get(f"/review/items/{sid}/frames/1").status_code == 404  # not judged
    outsider = Reviewer(new_client(), make_account(db, "reviewer", make_tenant(db)))
    assert outsider.client.get(f"/review/items/{sid}/frames/0").status_code == 404


def test_a_still_image_has_no_frames_section(
    db: str, new_client: Clients, make_batch: Callable[..., Batch]
) -> None:
    batch = make_batch(["review"])
    reviewer = Reviewer(new_client(), make_account(db, "reviewer", batch.tenant_id))
    page = reviewer.item(batch.ids[0])
    assert 'id="frames"' not in page
