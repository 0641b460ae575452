"""The hot queries use an index at scale (issue #25, finding 4): over a database of 1M
generated rows per table, the plan of each query the service runs (captured from the real
repository functions, as they execute) reads its big table through an index, never a
sequential scan."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from moderation.audit import repository as audit
from moderation.audit.search import AuditFilter
from moderation.outbox import repository as outbox
from moderation.review import queue_repository as queue
from moderation.storage.db import get_engine, session_scope
from moderation.submissions import repository as submissions

ROWS = 1_000_000

# a bulk load: session_replication_role = replica skips triggers and foreign-key checks
_GENERATE = """
SET LOCAL session_replication_role = replica;
INSERT INTO tenants (id, name) VALUES (:a, 'plans-a'), (:b, 'plans-b');
INSERT INTO images (sha256, size_bytes, width, height, format) VALUES (:sha, 1, 1, 1, 'PNG');
INSERT INTO submissions (id, tenant_id, image_sha256, policy_version, status, attempts,
                         enqueue_count, created_at, updated_at)
SELECT md5(n::text)::uuid, CASE WHEN n % 2 = 0 THEN CAST(:a AS uuid) ELSE CAST(:b AS uuid) END,
       :sha, :version, CASE WHEN n % 1000 = 0 THEN 'queued' ELSE 'decided' END, 1, 1,
       now() - n * interval '2 seconds', now() - n * interval '2 seconds'
FROM generate_series(1, :rows) AS n;
INSERT INTO decisions (id, submission_id, action, rating, category, rationale, scores,
                       decided_by, model_action, model_category, source, verdict, raw_text,
                       model_id, model_revision, prompt_sha256, decoding, latency_ms, decided_at)
SELECT gen_random_uuid(), md5(n::text)::uuid,
       a.action, 'safe', NULL, '', '{}',
       CASE WHEN a.action = 'review' AND n % 100 <> 0 THEN 'reviewer' ELSE 'model' END,
       a.action, NULL, 'model', '{}', '', 'm', 'r', '', '{}', 1, now() - n * interval '2 seconds'
FROM generate_series(1, :rows) AS n,
     LATERAL (SELECT CASE WHEN n % 20 = 0 THEN 'review' WHEN n % 20 = 1 THEN 'block'
                          ELSE 'allow' END AS action) AS a
WHERE n % 1000 <> 0;
INSERT INTO appeals (id, submission_id, tenant_id, reason, status)
SELECT gen_random_uuid(), md5(n::text)::uuid, CAST(:a AS uuid), 'why',
       CASE WHEN n % 10000 = 2 THEN 'open' ELSE 'upheld' END
FROM generate_series(2, :rows, 500) AS n;
INSERT INTO idempotency_keys (tenant_id, key, request_sha256, submission_id, created_at)
SELECT CAST(:a AS uuid), 'k' || n, '', md5(n::text)::uuid, now() - n * interval '1 second'
FROM generate_series(1, :rows) AS n;
INSERT INTO audit_events (tenant_id, subject_type, subject_id, event, actor, data, created_at,
                          chain_seq, prev_hash, row_hash)
SELECT CASE WHEN n % 100 = 0 THEN CAST(:a AS uuid) ELSE CAST(:b AS uuid) END, 'submission',
       md5(n::text), 'submission.received', 'api', '{}', now() - n * interval '1 second',
       n, '', ''
FROM generate_series(1, :rows) AS n;
INSERT INTO outbox (task, queue, args, created_at, sent_at, attempts)
SELECT 'inference.moderate', 'inference', '{}', now() - n * interval '1 second',
       CASE WHEN n % 1000 = 0 THEN NULL ELSE now() - n * interval '1 second' END, 1
FROM generate_series(1, :rows) AS n;
"""


@pytest.fixture(scope="module")
def big(make_db: Callable[[], str]) -> tuple[str, uuid.UUID]:
    """A database with 1M rows in each hot table; its URL and a tenant's id."""
    url = make_db()
    a, b = uuid.uuid4(), uuid.uuid4()
    with session_scope(url) as session:
        version = session.execute(text("SELECT version FROM policy_versions LIMIT 1")).scalar()
        params = {"a": a, "b": b, "sha": "0" * 64, "version": version, "rows": ROWS}
        for statement in _GENERATE.split(";\n"):
            if statement.strip():
                session.execute(text(statement), params)
    engine = get_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return url, a


@pytest.fixture
def plans(big: tuple[str, uuid.UUID]) -> Iterator[list[dict[str, Any]]]:
    """The plan of every statement run on the big database meanwhile (EXPLAIN before each)."""
    captured: list[dict[str, Any]] = []

    def explain(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE")):
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            plan = cursor.fetchone()[0]
            captured.append(plan[0] if isinstance(plan, list) else json.loads(plan)[0])

    engine = get_engine(big[0])
    event.listen(engine, "before_cursor_execute", explain)
    yield captured
    event.remove(engine, "before_cursor_execute", explain)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = [plan["Plan"]]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.get("Plans", []))


def _reads(plans: list[dict[str, Any]], table: str) -> set[str]:
    """How the plans read ``table``: 'Seq Scan', or the names of the indexes used."""
    found = set()
    for plan in plans:
        for node in _nodes(plan):
            if node.get("Relation Name") == table and node["Node Type"] != "ModifyTable":
                found.add(node.get("Index Name") or node["Node Type"])
    return found


def test_the_sweepers_scans_use_indexes(big: tuple[str, uuid.UUID], plans: list[Any]) -> None:
    with session_scope(big[0]) as session:
        submissions.stuck(session, older_than_s=300)
        submissions.forget_idempotency_keys(session, older_than_s=86_400)
        outbox.prune_sent(session, older_than_s=86_400)
        outbox.claim(session)
        session.rollback()
    assert _reads(plans, "submissions") == {"ix_submissions_status_updated_at"}
    assert _reads(plans, "idempotency_keys") >= {"ix_idempotency_keys_created_at"}
    assert "Seq Scan" not in _reads(plans, "idempotency_keys")
    assert _reads(plans, "outbox") >= {"ix_outbox_sent_at", "ix_outbox_pending"}
    assert "Seq Scan" not in _reads(plans, "outbox")


def test_the_review_queue_page_uses_indexes(big: tuple[str, uuid.UUID], plans: list[Any]) -> None:
    with session_scope(big[0]) as session:
        counts = queue.queue_counts(session, queue.QueueFilter(), 0.01, None)
        items = queue.queue_items(session, queue.QueueFilter(), 0.01, None, 0, 50)
    assert counts["review"] > 0 and counts["sample"] > 0 and counts["appeal"] > 0
    assert [i.reason for i in items][:1] == ["appeal"] and len(items) == 50
    reads = _reads(plans, "decisions")
    assert "Seq Scan" not in reads, [p for p in plans if "Seq Scan" in _reads([p], "decisions")]
    assert {"ix_decisions_to_review", "ix_decisions_sample"} <= reads


def test_audit_search_uses_indexes(big: tuple[str, uuid.UUID], plans: list[Any]) -> None:
    url, tenant = big
    with session_scope(url) as session:
        audit.search(session, AuditFilter(tenant_id=tenant), limit=51)
        audit.search(session, AuditFilter(), limit=51, offset=500)
    assert _reads(plans, "audit_events") == {
        "ix_audit_events_tenant_recent",
        "ix_audit_events_recent",
    }
