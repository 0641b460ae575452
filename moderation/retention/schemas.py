"""Request bodies of the retention routes."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from moderation.web.text import RequestModel


class LegalHoldIn(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"reason": "preservation request 2026-118 (police)"}},
    )
    reason: str = Field(min_length=1, max_length=2000, description="why the image is preserved")
