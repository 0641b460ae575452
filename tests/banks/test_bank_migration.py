"""The hash-bank revision (f4b8d2a6c913) on a database that holds data: submissions kept, bank
names unique per owner (one global namespace, one per tenant), down again with banks in it."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy.exc import IntegrityError

from moderation.admin import alembic_config
from tests.support.db import execute, rows
from tests.support.intake import accept_many

BEFORE = "e7a3c5d9f102"
_BANK = (
    "INSERT INTO hash_banks (id, tenant_id, name, action, created_by) "
    "VALUES (:i, :t, 'known', 'block', 'test')"
)


def test_the_hash_bank_revision_up_and_down_on_a_database_with_data(
    make_db: Callable[[], str],
) -> None:
    db = make_db()
    config = alembic_config(db)
    made = accept_many(db, Path(tempfile.mkdtemp()), range(3))
    command.downgrade(config, BEFORE)
    assert not rows(db, "SELECT tablename FROM pg_tables WHERE tablename = 'hash_banks'")
    command.upgrade(config, "head")

    ids = [sid for sid, _ in made]
    kept = "SELECT count(*) AS n FROM submissions WHERE id = ANY(CAST(:i AS uuid[]))"
    assert rows(db, kept, i=ids) == [{"n": 3}]
    indexes = {r["indexname"] for r in rows(db, "SELECT indexname FROM pg_indexes")}
    assert {"ix_bank_entries_bank_id_pdq", "uq_hash_banks_global_name"} <= indexes
    (tenant,) = rows(db, "SELECT tenant_id FROM submissions WHERE id = :i", i=ids[0])
    global_id = uuid.uuid4()
    execute(db, _BANK, i=global_id, t=None)
    execute(db, _BANK, i=uuid.uuid4(), t=tenant["tenant_id"])  # a tenant may reuse the name
    with pytest.raises(IntegrityError):
        execute(db, _BANK, i=uuid.uuid4(), t=None)
    with pytest.raises(IntegrityError):
        execute(db, _BANK, i=uuid.uuid4(), t=tenant["tenant_id"])
    execute(
        db,
        "INSERT INTO bank_entries (id, bank_id, pdq, action, source, added_by) "
        "VALUES (gen_random_uuid(), :b, repeat('f', 64), 'block', 'test', 'test')",
        b=global_id,
    )

    command.downgrade(config, BEFORE)  # with a bank and an entry in it
    assert rows(db, kept, i=ids) == [{"n": 3}]
    command.upgrade(config, "head")
    assert rows(db, "SELECT count(*) AS n FROM hash_banks") == [{"n": 0}]
