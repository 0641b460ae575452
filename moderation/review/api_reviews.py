"""The platform's own reviewers through the API: a final allow or block of a decided
submission, with the same rules as the console (a note to change the model's action, a block
that may add the image to a hash bank, re-review only on purpose), as one claim-and-decide
transaction under the API key's name."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from moderation.review.actions import Judgement, Notes, decide
from moderation.review.queue import claim_item
from moderation.storage.db import session_scope


@dataclass(frozen=True)
class ApiReview:
    """One reviewer decision sent through the API."""

    action: str
    category: str | None
    note: str = ""
    resolution_note: str = ""
    add_to_bank: uuid.UUID | None = None
    again: bool = False


def review_submission(
    db_url: str, tenant_id: uuid.UUID, reviewer: str, submission_id: uuid.UUID, review: ApiReview
) -> None:
    """Claim the tenant's decided submission for ``reviewer`` and record the decision in one
    transaction. Raises ItemNotFound, ClaimHeld (a console reviewer holds it),
    AlreadyReviewed (unless ``again``) or ReviewInvalid."""
    category = None if review.action == "allow" else review.category
    with session_scope(db_url) as session:
        claim_item(session, submission_id, reviewer, tenant_id, again=review.again)
        decide(
            session,
            submission_id,
            reviewer,
            Judgement(review.action, category),
            Notes(review.note, review.resolution_note),
            tenant_id,
            again=review.again,
            add_to_bank=review.add_to_bank if review.action == "block" else None,
        )
