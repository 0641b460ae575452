"""The words of submissions: statuses, and what intake and the worker pass to the repository."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class Status(StrEnum):
    """Where a submission is: queued -> processing -> decided | failed."""

    QUEUED = "queued"
    PROCESSING = "processing"
    DECIDED = "decided"
    FAILED = "failed"


FINAL = (Status.DECIDED, Status.FAILED)
OPEN = (Status.QUEUED, Status.PROCESSING)


class Received(NamedTuple):
    """A stored submission, as the intake reports it."""

    id: uuid.UUID
    policy_version: str
    created_at: datetime


class ImageRow(NamedTuple):
    """The metadata row of a content-addressed image."""

    sha256: str
    size_bytes: int
    width: int
    height: int
    format: str


class Intent(NamedTuple):
    """A task message to send once the submission is committed (the outbox row)."""

    task: str
    queue: str


class IdempotencyClaim(NamedTuple):
    """An ``Idempotency-Key`` and the fingerprint of the request it came with."""

    key: str
    request_sha256: str


class Incoming(NamedTuple):
    """One submission to receive. ``key_id``: the API key it came with, which must still be
    unrevoked when the rows are written (None: no key to check). ``revive``: the purge of
    its image's blob that the caller stored the blob again after (see ImagePurged)."""

    tenant_id: uuid.UUID
    image: ImageRow
    policy_slug: str
    external_id: str | None
    key_id: uuid.UUID | None = None
    idempotency: IdempotencyClaim | None = None
    revive: datetime | None = None
    trace: dict[str, str] | None = None  # request_id and trace context (observability)


class SubmissionRef(NamedTuple):
    """The columns the worker needs of a submission it holds."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    image_sha256: str
    policy_version: str
    attempts: int
    created_at: datetime | None = None  # when the upload was accepted
    trace: dict[str, str] | None = None  # its request_id and trace context
