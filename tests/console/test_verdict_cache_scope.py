"""The verdict cache and tenants (issue #18): under the default ``tenant`` scope a tenant's
upload of bytes another tenant already had decided costs a model call; under ``global`` it may
come from the cache, but nothing the tenant reads (API answer, webhook body, console item, audit
chain) names or links the other tenant's submission or decision."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moderation.admin import create_tenant_key
from moderation.inference.types import Engine
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import session_scope
from moderation.submissions.moderation_flow import (
    FlowContext,
    FlowReport,
    moderate_submissions_flow,
)
from moderation.webhooks.models import WebhookEndpoint, WebhookMessage
from moderation.webhooks.payloads import render_body
from tests.conftest import Env
from tests.console.pages import Reviewer
from tests.console.support import make_account
from tests.support.db import rows
from tests.support.intake import accept_many
from tests.support.processes import ApiServer

Clients = Callable[[], TestClient]


@pytest.fixture(scope="module")
def engine(checkpoints: dict[str, Path]) -> Iterator[Engine]:
    from moderation.inference import load_engine

    yield load_engine(str(checkpoints["llava"]), warm_up=False)


def _decide(env: Env, db: str, engine: Engine, sid: str, scope: str) -> FlowReport:
    ctx = FlowContext(
        db, FileBlobStore(env.data_dir / "blobs"), 10**7, 3, verdict_cache_scope=scope
    )
    return moderate_submissions_flow(ctx, engine, [uuid.UUID(sid)])


def _tenant_id(db: str, name: str) -> uuid.UUID:
    (row,) = rows(db, "SELECT id FROM tenants WHERE name = :n", n=name)
    tenant_id: uuid.UUID = row["id"]  # type: ignore[assignment]
    return tenant_id


@pytest.mark.parametrize("scope", ["tenant", "global"])
def test_a_cache_hit_never_names_another_tenants_submission(
    scope: str, env: Env, db: str, engine: Engine, api: ApiServer, new_client: Clients
) -> None:
    seed = 4400 if scope == "tenant" else 4401  # the same bytes for A and B, new per case
    name_a, name_b = (f"cache-{n}-{uuid.uuid4().hex[:6]}" for n in "ab")
    key_b = create_tenant_key(db, name_b)
    blobs = env.data_dir / "blobs"
    ((a, _),) = accept_many(db, blobs, [seed], tenant=name_a)
    first = _decide(env, db, engine, a, scope)
    assert (first.decided, first.model_calls) == ([uuid.UUID(a)], 1)
    ((b, _),) = accept_many(db, blobs, [seed], tenant=name_b)
    second = _decide(env, db, engine, b, scope)

    if scope == "tenant":  # B's verdict is the model's: one model call counted
        assert (second.decided, second.cached, second.model_calls) == ([uuid.UUID(b)], [], 1)
    else:  # taken from A's verdict, without a model call
        assert (second.decided, second.cached, second.model_calls) == ([], [uuid.UUID(b)], 0)
    (decision_a,) = rows(db, "SELECT id FROM decisions WHERE submission_id = :s", s=a)
    foreign = {a, str(decision_a["id"])}

    with api.client(key_b) as client:
        answer = client.get(f"/v1/moderations/{b}")
    assert answer.status_code == 200
    assert answer.json()["decision"]["source"] == ("model" if scope == "tenant" else "cache")
    tenant_b = _tenant_id(db, name_b)
    with session_scope(db) as session:  # the body a webhook of B's would carry
        body = render_body(
            session,
            WebhookMessage(
                submission_id=uuid.UUID(b),
                event="moderation.decided",
                created_at=datetime.now(UTC),
            ),
            WebhookEndpoint(tenant_id=tenant_b),
        )
    reviewer = Reviewer(new_client(), make_account(db, "reviewer", tenant_b))
    page = reviewer.item(uuid.UUID(b))
    audit: list[dict[str, Any]] = rows(
        db,
        "SELECT subject_id, data::text AS data FROM audit_events WHERE tenant_id = :t",
        t=tenant_b,
    )
    assert audit, "B's chain records its submission and decision"
    readable = [answer.text, body, page, *(f"{e['subject_id']} {e['data']}" for e in audit)]
    for text in readable:
        assert not any(ref in text for ref in foreign), text
