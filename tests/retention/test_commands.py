"""`moderation images purge`, `tenants set` and `tenants delete` on a database of their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from moderation.cli import main
from moderation.config import get_settings
from tests.retention.support import consistency, decide, sha_of, store, stored_files
from tests.support.db import count, execute, rows


@pytest.fixture
def configured(
    make_db: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    db, blobs = make_db(), tmp_path / "blobs"
    monkeypatch.setenv("MODERATION_DATABASE_URL", db)
    monkeypatch.setenv("MODERATION_BLOB_DIR", str(blobs))
    monkeypatch.setenv("MODERATION_REVIEW_SAMPLE_RATE", "0")
    get_settings.cache_clear()
    yield db, blobs
    get_settings.cache_clear()


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_tenants_set_and_images_purge(configured: tuple[str, Path]) -> None:
    db, blobs = configured
    sid = store(db, blobs, 51, "cli-keeper")
    decide(db, sid, days_old=3)
    assert "images kept 5 days" in _run(
        "tenants", "set", "cli-keeper", "--image-retention-days", "5"
    )
    assert _run("images", "purge").startswith("0 submission images expired")
    _run("tenants", "set", "cli-keeper", "--image-retention-days", "2")
    out = _run("images", "purge")
    assert out.startswith("1 submission images expired; 1 blobs deleted"), out
    assert stored_files(blobs) == set()


def test_tenants_delete_removes_images_and_personal_data(configured: tuple[str, Path]) -> None:
    db, blobs = configured
    mine = store(db, blobs, 61, "leaving")
    other = store(db, blobs, 61, "staying")  # the same bytes: the blob stays for it
    alone = store(db, blobs, 62, "leaving")
    decide(db, mine, other, alone)
    execute(
        db, "UPDATE submissions SET external_id = 'user-7' WHERE id IN (:a, :b)", a=mine, b=alone
    )
    execute(
        db,
        "INSERT INTO appeals (id, submission_id, tenant_id, reason, status) "
        "SELECT :a, id, tenant_id, 'my photo', 'upheld' FROM submissions WHERE id = :i",
        a=uuid.uuid4(),
        i=mine,
    )
    execute(db, "UPDATE submissions SET legal_hold_at = now() WHERE id = :i", i=alone)
    refused = CliRunner().invoke(main, ["tenants", "delete", "leaving", "--confirm"])
    assert refused.exit_code != 0 and "legal hold" in refused.output
    execute(db, "UPDATE submissions SET legal_hold_at = NULL WHERE id = :i", i=alone)

    out = _run("tenants", "delete", "leaving", "--confirm")

    assert "deleted 2 images" in out and "kept:" in out and "audit events" in out
    assert stored_files(blobs) == {sha_of(db, other)}
    assert count(db, "submissions WHERE external_id IS NOT NULL") == 0
    assert rows(db, "SELECT reason FROM appeals") == [{"reason": ""}]
    assert count(db, "tenants WHERE name = 'leaving'") == 0
    assert count(db, "audit_events WHERE event = 'image.erased'") == 2
    assert consistency(db, blobs) == (set(), set())
