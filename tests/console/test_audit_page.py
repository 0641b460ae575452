"""The audit page: search by submission, actor, date; tenant scoping; escaping; paging."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from moderation.audit import repository as audit
from moderation.storage.db import session_scope
from tests.console.support import make_account, make_tenant, signed_in

Clients = Callable[[], TestClient]


def _event(db: str, tenant_id: uuid.UUID | None, actor: str, data: dict[str, str]) -> str:
    subject = str(uuid.uuid4())
    with session_scope(db) as session:
        audit.append(
            session,
            tenant_id=tenant_id,
            subject_type="submission",
            subject_id=subject,
            event="test.event",
            actor=actor,
            data=data,
        )
    return subject


def _row(subject: str) -> str:
    """How a listed event shows its subject (the search form may echo the id too)."""
    return f"<code>{subject}</code>"


def test_tenant_reviewers_see_only_their_tenant(db: str, new_client: Clients) -> None:
    a, b = make_tenant(db), make_tenant(db)
    mine = _event(db, a, "key:aaaa", {})
    theirs = _event(db, b, "key:bbbb", {})
    client = new_client()
    signed_in(client, make_account(db, "reviewer", a))
    page = client.get("/review/audit").text
    assert _row(mine) in page and _row(theirs) not in page
    assert _row(theirs) not in client.get("/review/audit", params={"submission": theirs}).text
    admin = new_client()
    signed_in(admin, make_account(db, "admin"))
    everything = admin.get("/review/audit").text
    assert _row(mine) in everything and _row(theirs) in everything


def test_search_by_submission_actor_and_date(db: str, new_client: Clients) -> None:
    tenant = make_tenant(db)
    one = _event(db, tenant, "user:alice@example.test", {})
    two = _event(db, tenant, "user:bob@example.test", {})
    client = new_client()
    signed_in(client, make_account(db, "reviewer", tenant))
    by_subject = client.get("/review/audit", params={"submission": one}).text
    assert _row(one) in by_subject and _row(two) not in by_subject
    by_actor = client.get("/review/audit", params={"actor": "BOB@"}).text
    assert _row(two) in by_actor and _row(one) not in by_actor
    assert _row(one) not in client.get("/review/audit", params={"until": "2020-01-01"}).text
    assert _row(one) in client.get("/review/audit", params={"since": "2020-01-01"}).text
    bad = client.get("/review/audit", params={"since": "yesterday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


def test_event_data_is_escaped(db: str, new_client: Clients) -> None:
    tenant = make_tenant(db)
    subject = _event(db, tenant, "<b>actor</b>", {"rationale": "<script>alert(1)</script>"})
    client = new_client()
    signed_in(client, make_account(db, "reviewer", tenant))
    page = client.get("/review/audit", params={"submission": subject}).text
    assert "<script>alert" not in page and "<b>actor" not in page
    assert "&lt;b&gt;actor&lt;/b&gt;" in page


def test_pages_of_fifty(db: str, new_client: Clients) -> None:
    tenant = make_tenant(db)
    with session_scope(db) as session:
        audit.append_many(
            session,
            [
                {
                    "tenant_id": tenant,
                    "subject_type": "submission",
                    "subject_id": f"paged-{i:03}",
                    "event": "test.event",
                    "actor": "pager",
                }
                for i in range(60)
            ],
        )
    client = new_client()
    signed_in(client, make_account(db, "reviewer", tenant))
    first = client.get("/review/audit", params={"actor": "pager"}).text
    second = client.get("/review/audit", params={"actor": "pager", "page": 2}).text
    assert first.count("paged-") == 50 and second.count("paged-") == 10
    assert "Older" in first and "Older" not in second and "Newer" in second
