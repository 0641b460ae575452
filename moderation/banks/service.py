"""Hash banks and their entries, as their owner (a tenant, or None: the operator) manages
them, in the caller's transaction. Another owner's bank is BankNotFound, like an unknown one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from moderation.audit import repository as audit
from moderation.banks import repository as repo
from moderation.banks.backfill import backfill
from moderation.banks.hashing import DEFAULT_DISTANCE, ImageHashes, hash_image
from moderation.banks.models import BankEntry, HashBank
from moderation.config import get_settings

ACTIONS = ("block", "review")


class BankNotFound(LookupError):
    """No bank (or entry) with this id of this owner."""


class BankExists(ValueError):
    """The owner has a bank of that name already."""


@dataclass(frozen=True)
class Owner:
    """Who manages banks: a tenant, or None (the operator: global banks); ``actor`` names them
    in entries and audit events."""

    tenant_id: uuid.UUID | None
    actor: str


@dataclass(frozen=True)
class NewEntry:
    """An entry to add: its hashes (a PDQ hash, or only MD5/SHA-256), label and action
    (None: the bank's)."""

    pdq: str | None
    md5: str | None = None
    sha256: str | None = None
    quality: int | None = None
    label: str | None = None
    action: str | None = None


def create_bank(
    session: Session, owner: Owner, name: str, action: str, distance: int = DEFAULT_DISTANCE
) -> HashBank:
    """A new bank of the owner (BankExists when the name is taken)."""
    made = repo.add_bank(
        session,
        tenant_id=owner.tenant_id,
        name=name,
        action=action,
        distance=distance,
        created_by=owner.actor,
    )
    if made is None:
        raise BankExists(f"a bank named {name!r} exists already")
    _audit(session, owner, made, "bank.created", {"name": name, "action": action})
    return made


def get_bank(session: Session, owner: Owner, bank_id: uuid.UUID) -> HashBank:
    """The owner's bank (BankNotFound otherwise)."""
    found = repo.bank(session, owner.tenant_id, bank_id)
    if found is None:
        raise BankNotFound(str(bank_id))
    return found


def bank_named(session: Session, owner: Owner, name: str) -> HashBank:
    """The owner's bank of that name (BankNotFound otherwise)."""
    found = repo.bank_by_name(session, owner.tenant_id, name)
    if found is None:
        raise BankNotFound(name)
    return found


def list_banks(session: Session, owner: Owner) -> list[tuple[HashBank, int]]:
    """The owner's banks with their entry counts."""
    return repo.banks(session, owner.tenant_id)


def delete_bank(session: Session, owner: Owner, bank_id: uuid.UUID) -> None:
    """Delete the owner's bank and its entries."""
    found = get_bank(session, owner, bank_id)
    repo.delete_bank(session, found.id)
    _audit(session, owner, found, "bank.deleted", {"name": found.name})


def add_entries(
    session: Session,
    owner: Owner,
    bank: HashBank,
    new: Sequence[NewEntry],
    source: str,
    *,
    backfill_days: int | None = None,
) -> list[BankEntry]:
    """Add entries to the owner's bank, then match them against the recent submissions the
    model allowed (see :func:`moderation.banks.backfill.backfill`)."""
    rows = [
        {
            "bank_id": bank.id,
            "pdq": e.pdq,
            "pdq_quality": e.quality,
            "md5": e.md5,
            "sha256": e.sha256,
            "label": e.label,
            "action": e.action or bank.action,
            "source": source,
            "added_by": owner.actor,
        }
        for e in new
    ]
    added = repo.add_entries(session, rows)
    days = get_settings().bank_backfill_days if backfill_days is None else backfill_days
    if added and days > 0:
        since = datetime.now(UTC) - timedelta(days=days)
        backfill(session, bank, added, since)
    return added


def import_entries(
    session: Session, owner: Owner, bank: HashBank, new: Sequence[NewEntry], source: str
) -> tuple[int, int]:
    """Add the entries whose PDQ hash the bank lacks (the first of each; entries without one
    are all added), as :func:`add_entries`; ``(added, duplicates)``."""
    have = repo.bank_pdqs(session, bank.id, {e.pdq for e in new if e.pdq})
    fresh: list[NewEntry] = []
    for e in new:
        if e.pdq is not None:
            if e.pdq in have:
                continue
            have.add(e.pdq)
        fresh.append(e)
    added = add_entries(session, owner, bank, fresh, source)
    return len(added), len(new) - len(added)


def record_import(
    session: Session, owner: Owner, bank: HashBank, counts: dict[str, object]
) -> None:
    """The audit event of a finished file import into the bank, with its counts."""
    _audit(session, owner, bank, "bank.imported", counts)


def image_entry(data: bytes, label: str | None, action: str | None) -> NewEntry:
    """The entry of an image file (hashed here; the image itself is not kept)."""
    return hashes_entry(hash_image(data), label, action)


def hashes_entry(hashes: ImageHashes, label: str | None, action: str | None) -> NewEntry:
    """The entry of an image whose hashes are known."""
    return NewEntry(
        hashes.pdq, hashes.md5, hashes.sha256, hashes.quality, label=label, action=action
    )


def list_entries(
    session: Session, owner: Owner, bank_id: uuid.UUID, after: int, limit: int
) -> list[BankEntry]:
    """A page of the owner's bank's entries after the cursor ``after`` (an entry's ``seq``)."""
    return repo.entries(session, get_bank(session, owner, bank_id).id, after, limit)


def all_entries(session: Session, owner: Owner, bank_id: uuid.UUID) -> Iterator[BankEntry]:
    """Every entry of the owner's bank in the order added, read in batches (an export)."""
    return repo.all_entries(session, get_bank(session, owner, bank_id).id)


def delete_entry(session: Session, owner: Owner, bank_id: uuid.UUID, entry_id: uuid.UUID) -> None:
    """Delete an entry of the owner's bank (BankNotFound: no such entry there)."""
    found = get_bank(session, owner, bank_id)
    if not repo.delete_entry(session, found.id, entry_id):
        raise BankNotFound(str(entry_id))
    _audit(session, owner, found, "bank.entry_deleted", {"entry": str(entry_id)})


def _audit(
    session: Session, owner: Owner, bank: HashBank, event: str, data: dict[str, object]
) -> None:
    audit.append(
        session,
        tenant_id=bank.tenant_id,
        subject_type="hash_bank",
        subject_id=str(bank.id),
        event=event,
        actor=owner.actor,
        data=data,
    )


class HashesUnknown(LookupError):
    """The image was never hashed (a submission the worker has not processed)."""


def reviewer_banks(session: Session, viewer_tenant_id: uuid.UUID | None) -> list[HashBank]:
    """The banks a reviewer may add an image to: the tenant's own and, for a reviewer of
    every tenant (an operator), the global ones and every tenant's."""
    found = repo.usable_banks(session, viewer_tenant_id)
    if viewer_tenant_id is None:
        return found
    return [b for b in found if b.tenant_id == viewer_tenant_id]


def add_reviewed_image(
    session: Session,
    bank_id: uuid.UUID,
    submission: ReviewedImage,
    reviewer: str,
    viewer_tenant_id: uuid.UUID | None,
) -> BankEntry:
    """A reviewer's block adds the submission's image (its stored hashes) to a bank of the
    submission's tenant, or to a global bank when the reviewer is the operator's (no tenant);
    then the backfill runs. BankNotFound for any other bank, HashesUnknown when unhashed."""
    bank = repo.bank(session, submission.tenant_id, bank_id)
    if bank is None and viewer_tenant_id is None:
        bank = repo.bank(session, None, bank_id)
    if bank is None:
        raise BankNotFound(str(bank_id))
    stored = repo.image_hashes(session, [submission.image_sha256]).get(submission.image_sha256)
    if stored is None:
        raise HashesUnknown(submission.image_sha256)
    hashes = ImageHashes(stored.pdq, stored.quality, stored.md5, stored.sha256)
    owner = Owner(bank.tenant_id, reviewer)
    new = hashes_entry(hashes, submission.label, "block")
    (added,) = add_entries(session, owner, bank, [new], f"review:{submission.submission_id}")
    _audit(
        session, owner, bank, "bank.entry_added", {"entry": str(added.id), "source": added.source}
    )
    return added


@dataclass(frozen=True)
class ReviewedImage:
    """The submission a reviewer blocked: whose it is, its image and the block's category."""

    submission_id: uuid.UUID
    tenant_id: uuid.UUID
    image_sha256: str
    label: str | None
