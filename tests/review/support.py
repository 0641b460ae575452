"""Decided submissions with fixed verdicts, recorded by ``record_verdicts`` (the worker's path)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from moderation.accounts import tenant_repository as tenants
from moderation.inference.types import Scores, Verdict
from moderation.policies.catalog import policy_version
from moderation.storage.db import session_scope
from moderation.submissions import repository as submissions
from moderation.submissions.types import SubmissionRef
from moderation.submissions.verdicts import ModelInfo, VerdictToRecord, record_verdicts
from tests.support.intake import accept_many

MODEL = ModelInfo("test/fixed-verdicts", "rev-1", {"max_new_tokens": 64, "do_sample": False})
# P(unsafe) and the model's category for each wanted action under the shipped policies'
# thresholds (review_at 0.35, block_at 0.7; every shipped category blocks)
_VERDICTS = {"allow": (0.1, None), "review": (0.5, "O2"), "block": (0.9, "O1")}
_SEEDS = itertools.count(7000)


@dataclass(frozen=True)
class Batch:
    """A tenant and its decided submissions, in the order asked for."""

    tenant_id: uuid.UUID
    ids: list[uuid.UUID]


def fixed_verdict(action: str, rationale: str = "fixed test verdict") -> Verdict:
    """A verdict whose scores lead to ``action`` (allow | review | block)."""
    unsafe, category = _VERDICTS[action]
    top = category or "O1"
    return Verdict(
        rating="unsafe" if category else "safe",
        category=category,
        rationale=rationale,
        raw_text=f'{{"rating": "{"unsafe" if category else "safe"}", "rationale": "{rationale}"}}',
        scores=Scores(unsafe=unsafe, categories={top: 0.7, "none": 0.3}),
        prompt_sha256="ab" * 32,
        latency_ms=12.5,
    )


def decided(
    db: str,
    blobs: Path,
    actions: Sequence[str],
    policy: str = "default",
    rationale: str = "fixed test verdict",
) -> Batch:
    """A new tenant with one decided submission per action of ``actions``."""
    name = f"review-{uuid.uuid4().hex[:8]}"
    seeds = [next(_SEEDS) for _ in actions]
    made = [uuid.UUID(sid) for sid, _ in accept_many(db, blobs, seeds, name, policy)]
    with session_scope(db) as session:
        rows = {s.id: s for s in submissions.get_many(session, made)}
        items = []
        for sid, action in zip(made, actions, strict=True):
            row = rows[sid]
            ref = SubmissionRef(
                row.id, row.tenant_id, row.image_sha256, row.policy_version, row.attempts
            )
            policy_content = policy_version(session, row.policy_version)
            items.append(
                VerdictToRecord(ref, policy_content, fixed_verdict(action, rationale), MODEL)
            )
        assert set(record_verdicts(session, items)) == set(made)
        tenant = tenants.get_by_name(session, name)
        assert tenant is not None
        return Batch(tenant.id, made)
