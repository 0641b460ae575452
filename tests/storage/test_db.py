"""The engine never prints a statement's values: they can be key hashes or users' text."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from moderation.storage.db import session_scope


def test_a_failed_statement_does_not_show_its_parameters(db: str) -> None:
    secret = "3f9c2b7a-not-for-logs"
    with pytest.raises(DBAPIError) as failed, session_scope(db) as session:
        session.execute(text("SELECT length(:value) / 0"), {"value": secret})
    assert secret not in str(failed.value)
    assert "parameters hidden" in str(failed.value)
