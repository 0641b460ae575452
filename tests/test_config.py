"""Settings refuse to run production with the development secret key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from moderation.config import DEVELOPMENT_SECRET_KEY, Settings

STRONG = "k" * 48


@pytest.mark.parametrize("key", [None, DEVELOPMENT_SECRET_KEY, "short-key"])
def test_production_refuses_a_default_or_weak_secret_key(
    monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    monkeypatch.setenv("MODERATION_ENVIRONMENT", "production")
    if key is None:
        monkeypatch.delenv("MODERATION_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("MODERATION_SECRET_KEY", key)
    with pytest.raises(ValidationError, match="MODERATION_SECRET_KEY must be set"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_production_loads_with_a_real_key_and_development_with_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODERATION_ENVIRONMENT", "production")
    monkeypatch.setenv("MODERATION_SECRET_KEY", STRONG)
    assert Settings(_env_file=None).secret_key.get_secret_value() == STRONG  # type: ignore[call-arg]
    monkeypatch.setenv("MODERATION_ENVIRONMENT", "development")
    monkeypatch.delenv("MODERATION_SECRET_KEY")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY
    assert settings.allow_private_urls is False


def test_production_refuses_fault_injection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODERATION_ENVIRONMENT", "production")
    monkeypatch.setenv("MODERATION_SECRET_KEY", STRONG)
    for setting in ("MODERATION_CHAOS_FAIL_IMAGE_SIZE", "MODERATION_CHAOS_KILL_IMAGE_SIZE"):
        monkeypatch.setenv("MODERATION_ENVIRONMENT", "production")
        monkeypatch.setenv(setting, "7x13")
        with pytest.raises(ValidationError, match="for tests, not production"):
            Settings(_env_file=None)  # type: ignore[call-arg]
        monkeypatch.setenv("MODERATION_ENVIRONMENT", "development")
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert "7x13" in (settings.chaos_fail_image_size, settings.chaos_kill_image_size)
        monkeypatch.delenv(setting)
