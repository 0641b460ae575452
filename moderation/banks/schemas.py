"""Request and response shapes of ``/v1/hash-banks`` (separate from the tables)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from moderation.banks.hashing import (
    DEFAULT_DISTANCE,
    MAX_DISTANCE,
    parse_md5,
    parse_pdq,
    parse_sha256,
)
from moderation.banks.models import BankEntry, HashBank
from moderation.banks.service import NewEntry
from moderation.web.text import RequestModel

BankAction = Literal["block", "review"]


class BankIn(RequestModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"example": {"name": "known-csam", "action": "block"}},
    )
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\s/][^/]*$")
    action: BankAction = Field(description="what a match does: block, or send to review")
    distance: int = Field(
        DEFAULT_DISTANCE,
        ge=0,
        le=MAX_DISTANCE,
        description="largest PDQ Hamming distance that matches (HMA's default: 31)",
    )


class BankOut(BaseModel):
    id: uuid.UUID
    name: str
    action: BankAction
    distance: int
    scope: Literal["tenant", "global"]
    entries: int
    created_at: datetime


_BANK_EXAMPLE: dict[str, Any] = {
    "id": "5f0c2b1e-8d2a-4f5e-9c1b-3a2d4e5f6a7b",
    "name": "known-csam",
    "action": "block",
    "distance": 31,
    "scope": "tenant",
    "entries": 1200,
    "created_at": "2026-12-07T12:00:00Z",
}


class BankList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"banks": [_BANK_EXAMPLE]}})
    banks: list[BankOut]


def bank_out(bank: HashBank, entries: int) -> BankOut:
    """The public view of a bank."""
    return BankOut(
        id=bank.id,
        name=bank.name,
        action=bank.action,  # type: ignore[arg-type]
        distance=bank.distance,
        scope="global" if bank.tenant_id is None else "tenant",
        entries=entries,
        created_at=bank.created_at,
    )


class HashesIn(RequestModel):
    """An entry from precomputed hashes: a PDQ hash, and optionally the MD5 / SHA-256."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"example": {"pdq": "f" * 64, "label": "O1", "md5": "0" * 32}},
    )
    pdq: str = Field(description="PDQ hash: 64 hex digits")
    md5: str | None = Field(None, description="MD5 of the file: 32 hex digits")
    sha256: str | None = Field(None, description="SHA-256 of the file: 64 hex digits")
    label: str | None = Field(None, max_length=200, description="a category id or free text")
    action: BankAction | None = Field(None, description="default: the bank's")

    @field_validator("pdq")
    @classmethod
    def _pdq(cls, value: str) -> str:
        return parse_pdq(value)

    @field_validator("md5")
    @classmethod
    def _md5(cls, value: str | None) -> str | None:
        return None if value is None else parse_md5(value)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, value: str | None) -> str | None:
        return None if value is None else parse_sha256(value)

    def entry(self) -> NewEntry:
        """The entry these hashes make."""
        return NewEntry(self.pdq, self.md5, self.sha256, label=self.label, action=self.action)


class EntryOut(BaseModel):
    id: uuid.UUID
    pdq: str | None
    pdq_quality: int | None
    md5: str | None
    sha256: str | None
    label: str | None
    action: BankAction
    source: str
    added_by: str
    created_at: datetime


class EntryPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "entries": [
                    {
                        "id": "7a1c2b1e-8d2a-4f5e-9c1b-3a2d4e5f6a7b",
                        "pdq": "f8f8" * 16,
                        "pdq_quality": 100,
                        "md5": None,
                        "sha256": None,
                        "label": "O1",
                        "action": "block",
                        "source": "api:hashes",
                        "added_by": "tenant:acme key:mod_AbCdEfGh",
                        "created_at": "2026-12-07T12:00:00Z",
                    }
                ],
                "next_cursor": "1200",
            }
        }
    )
    entries: list[EntryOut]
    next_cursor: str | None = Field(description="pass as ?after= for the next page; null: last")


def entry_out(entry: BankEntry) -> EntryOut:
    """The public view of an entry."""
    return EntryOut(
        id=entry.id,
        pdq=entry.pdq,
        pdq_quality=entry.pdq_quality,
        md5=entry.md5,
        sha256=entry.sha256,
        label=entry.label,
        action=entry.action,  # type: ignore[arg-type]
        source=entry.source,
        added_by=entry.added_by,
        created_at=entry.created_at,
    )
