"""Decisions without a model call: a bank entry matched the submission's image, so its action
is the decision (``source`` "hash_match", ``match`` naming the bank, entry and distance)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from moderation.banks.matching import BankHit
from moderation.policies.format import Policy
from moderation.submissions import decision_repository as decisions
from moderation.submissions.types import SubmissionRef

MATCHER = "hash_bank"  # the "model id" of a hash-match decision's provenance


@dataclass(frozen=True)
class HashMatch:
    """A submission an entry of a bank decides."""

    submission: SubmissionRef
    policy: Policy
    hit: BankHit
    latency_ms: float
    frame: int | None = None  # the frame of an animation that matched (None: the image)

    @property
    def match(self) -> dict[str, Any]:
        """The ``decision.match``: the hit, and the frame when one matched."""
        return self.hit.as_match() | ({} if self.frame is None else {"frame": self.frame})

    @property
    def category(self) -> str | None:
        """The entry's label when it is a category of the policy (else none)."""
        label = self.hit.label
        return label if label in self.policy.category_ids else None


def _rationale(item: HashMatch) -> str:
    hit = item.hit
    how = "exactly" if hit.kind != "pdq" else f"at PDQ distance {hit.distance}"
    label = f" ({hit.label})" if hit.label else ""
    what = "Matches" if item.frame is None else f"Frame {item.frame} matches"
    return f"{what} entry {hit.entry_id} of hash bank '{hit.bank_name}'{label} {how}."


def _row(item: HashMatch) -> dict[str, Any]:
    hit = item.hit
    return {
        "id": uuid.uuid4(),
        "submission_id": item.submission.id,
        "action": hit.action,
        "rating": "unsafe",
        "category": item.category,
        "rationale": _rationale(item),
        "scores": {"unsafe": 1.0, "categories": {}},
        "decided_by": "model",  # the automatic side: a reviewer may still confirm or overturn
        "model_action": hit.action,
        "model_category": item.category,
        "source": "hash_match",
        "match": item.match,
        "verdict": {"rating": "unsafe", "category": item.category},
        "raw_text": "",
        "model_id": MATCHER,
        "model_revision": "",
        "prompt_sha256": "",
        "decoding": {"engine": MATCHER, "kind": hit.kind},
        "latency_ms": item.latency_ms,
    }


def _event(item: HashMatch) -> dict[str, Any]:
    return {
        "tenant_id": item.submission.tenant_id,
        "subject_type": "submission",
        "subject_id": str(item.submission.id),
        "event": "decision.made",
        "actor": f"bank:{item.hit.bank_id}",
        "data": {
            "action": item.hit.action,
            "rating": "unsafe",
            "category": item.category,
            "source": "hash_match",
            "match": item.match,
        },
    }


def record_hash_matches(
    session: Session, items: list[HashMatch], fanout: decisions.Fanout | None = None
) -> dict[uuid.UUID, str]:
    """Decide the still-open submissions of ``items`` by their bank hits, with an audit event
    and ``fanout``'s webhook messages each (one statement); the submissions decided now
    and their actions."""
    return decisions.close_and_record(
        session, [_row(i) for i in items], [_event(i) for i in items], fanout
    )
