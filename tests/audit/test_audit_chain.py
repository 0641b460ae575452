"""The audit trail is append-only and hash-chained per tenant; `moderation audit verify`."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from moderation.audit import repository as audit
from moderation.audit.chain import GENESIS, verify
from moderation.cli import main
from moderation.config import get_settings
from moderation.storage.db import normalize_url, session_scope
from tests.console.support import make_tenant
from tests.support.db import rows


def _append(db: str, tenant_id: uuid.UUID | None, subject: str) -> None:
    with session_scope(db) as session:
        audit.append(
            session,
            tenant_id=tenant_id,
            subject_type="submission",
            subject_id=subject,
            event="test.event",
            actor="test",
            data={"n": subject},
        )


def _run_sql(db: str, *statements: str) -> None:
    engine = create_engine(normalize_url(db))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events CASCADE",
    ],
)
def test_changes_to_the_trail_are_refused(db: str, statement: str) -> None:
    _append(db, None, "kept")
    with pytest.raises(DBAPIError, match="append-only"):
        _run_sql(db, statement)


def test_each_tenant_has_its_own_chain_even_under_concurrent_writers(db: str) -> None:
    a, b = make_tenant(db), make_tenant(db)
    writers = [
        threading.Thread(target=lambda t=t: [_append(db, t, f"w{i}") for i in range(15)])
        for t in (a, a, b, b)
    ]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    chain = rows(
        db,
        "SELECT chain_seq, prev_hash, row_hash FROM audit_events WHERE tenant_id = :t "
        "ORDER BY chain_seq",
        t=a,
    )
    assert [r["chain_seq"] for r in chain] == list(range(1, 31))
    assert chain[0]["prev_hash"] == GENESIS
    assert all(r["prev_hash"] == p["row_hash"] for p, r in itertools.pairwise(chain))
    with session_scope(db) as session:
        assert verify(session, str(a)).rows == 30
        assert verify(session).broken is None


def _verify_cli(db: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("MODERATION_DATABASE_URL", db)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["audit", "verify", *args])
    finally:
        get_settings.cache_clear()
    return result.exit_code, result.output


def test_verify_finds_exactly_the_tampered_row(
    make_db: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = make_db()  # its own database: this test breaks the chain on purpose
    tenant = make_tenant(db)
    for i in range(5):
        _append(db, tenant, f"s{i}")
    code, output = _verify_cli(db, monkeypatch)
    assert code == 0 and output.strip().startswith("ok ")
    [target] = rows(db, "SELECT id FROM audit_events WHERE subject_id = 's2'")
    # as a superuser bypassing the triggers would
    _run_sql(
        db,
        "SET LOCAL session_replication_role = replica",
        "UPDATE audit_events SET data = '{\"n\": \"forged\"}' WHERE subject_id = 's2'",
    )
    code, output = _verify_cli(db, monkeypatch)
    assert code == 1
    assert f"row {target['id']}:" in output and "altered" in output
    name = rows(db, "SELECT name FROM tenants WHERE id = :t", t=tenant)[0]["name"]
    assert _verify_cli(db, monkeypatch, "--tenant", str(name))[0] == 1


def test_verify_notices_deleted_rows(
    make_db: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = make_db()
    tenant = make_tenant(db)
    for i in range(4):
        _append(db, tenant, f"d{i}")
    [after] = rows(db, "SELECT id FROM audit_events WHERE subject_id = 'd2'")
    _run_sql(
        db,
        "SET LOCAL session_replication_role = replica",
        "DELETE FROM audit_events WHERE subject_id = 'd1'",
    )
    code, output = _verify_cli(db, monkeypatch)
    assert code == 1 and f"row {after['id']}:" in output and "sequence" in output
