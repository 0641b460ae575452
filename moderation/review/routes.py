"""``POST /v1/moderations/{id}/review``: a platform's reviewer decides (scope ``reviews:write``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import ConfigDict, Field

from moderation.accounts.api_keys import Principal
from moderation.accounts.deps import require_scope
from moderation.accounts.keys import Scope
from moderation.review.actions import ReviewInvalid
from moderation.review.api_reviews import ApiReview, review_submission
from moderation.review.queue import AlreadyReviewed, ClaimHeld, ItemNotFound
from moderation.submissions.appeals import read_submission
from moderation.submissions.schemas import ModerationOut, moderation_out
from moderation.web.deps import DbUrlDep
from moderation.web.errors import ApiError, error_responses, not_found, parse_id
from moderation.web.text import RequestModel

router = APIRouter(prefix="/v1/moderations", tags=["moderations"])
ReviewerDep = Annotated[Principal, Depends(require_scope(Scope.REVIEWS_WRITE))]


class ReviewIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "action": "block",
                "category": "O2",
                "note": "graphic injury, not news",
                "add_to_bank": "5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
            }
        }
    )
    action: Literal["allow", "block"] = Field(description="the final action")
    category: str | None = Field(
        default=None, max_length=16, description="a category id of the policy (block only)"
    )
    note: str = Field(
        default="",
        max_length=2000,
        description="internal note; required when the action changes the model's",
    )
    resolution_note: str = Field(
        default="", max_length=2000, description="sent to the platform with an appeal's outcome"
    )
    add_to_bank: uuid.UUID | None = Field(
        default=None, description="a block adds the image to this hash bank (yours or global)"
    )
    again: bool = Field(default=False, description="review an item a reviewer decided already")


@router.post(
    "/{moderation_id}/review",
    response_model=ModerationOut,
    summary="Decide as a reviewer",
    description=(
        "The final allow or block of a decided submission by the platform's own reviewer, as "
        "in the console: agreeing with the current decision is a confirm, anything else an "
        "overturn (a note required); a block may add the image to a hash bank. 409 while a "
        "console reviewer holds the item, or when a reviewer decided it already (unless "
        "`again`)."
    ),
    responses=error_responses(401, 403, 404, 409, 422, 429),
)
def review_moderation(
    moderation_id: str, body: ReviewIn, caller: ReviewerDep, db_url: DbUrlDep
) -> ModerationOut:
    """Record the reviewer's decision; the submission as ``GET`` shows it now."""
    submission_id = parse_id(moderation_id, "moderation")
    reviewer = f"api:{caller.tenant.name} key:{caller.key_prefix}"
    review = ApiReview(**body.model_dump())
    try:
        review_submission(db_url, caller.tenant_id, reviewer, submission_id, review)
    except ItemNotFound:
        raise not_found("moderation", moderation_id) from None
    except (ClaimHeld, AlreadyReviewed) as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except ReviewInvalid as exc:
        raise ApiError(422, "invalid_review", str(exc)) from None
    found = read_submission(db_url, submission_id, caller.tenant_id)
    if found is None:
        raise not_found("moderation", moderation_id)
    return moderation_out(*found)
