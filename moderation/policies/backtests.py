"""Backtests: measure a draft against labelled images beside the active version.

Items are queued on the ``backtest`` queue (never ``inference``) in chunks; each result is stored
on its item, so progress and the report are read from the database at any time. A backtest
never writes decisions or touches submissions.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from moderation.outbox import repository as outbox
from moderation.outbox.queues import BACKTEST_QUEUE, BACKTEST_TASK
from moderation.policies import backtest_repository as backtests
from moderation.policies import repository as policy_repo
from moderation.policies.authoring import Author, audit_authoring, draft_policy, get_draft
from moderation.policies.backtest_report import ItemOutcome, Report, build_report
from moderation.policies.format import Outcome
from moderation.policies.models import BacktestItem, BacktestRun, PolicyDraft
from moderation.review import repository as reviews


@dataclass(frozen=True)
class LabelledImage:
    """An image to backtest and its expected rating/category (reviewer or dataset label)."""

    image_sha256: str
    label: str
    expected_rating: str
    expected_category: str | None
    submission_id: uuid.UUID | None = None
    purged: bool = False  # the image was deleted: the run skips it and counts it


class BacktestNotFound(LookupError):
    """No backtest with this id of this policy."""


class NothingToBacktest(ValueError):
    """The chosen source holds no labelled image."""


def reviewed_images(
    session: Session, slug: str, limit: int, tenant_id: uuid.UUID | None = None
) -> list[LabelledImage]:
    """Submissions of ``slug`` (of one tenant, if given) that a reviewer confirmed or
    overturned: the reviewer decides."""
    return [
        LabelledImage(
            t.image_sha256, str(t.submission_id), t.rating, t.category, t.submission_id, t.purged
        )
        for t in reviews.ground_truth(session, slug, limit, tenant_id)
    ]


def start_backtest(
    session: Session,
    author: Author,
    draft: PolicyDraft,
    images: list[LabelledImage],
    *,
    source: str,
    dataset: str | None = None,
    chunk_size: int = 8,
) -> tuple[BacktestRun, list[int]]:
    """Store a run over ``images`` and queue its items in chunks; (run, outbox message ids).
    Images deleted by retention or erasure are skipped; the run counts them."""
    skipped = sum(1 for i in images if i.purged)
    images = [i for i in images if not i.purged]
    if not images:
        gone = f"; {skipped} skipped, their images were deleted" if skipped else ""
        raise NothingToBacktest(f"no labelled images to backtest ({source}){gone}")
    owner = draft.created_by_tenant_id  # the run is the draft owner's, like the draft
    current = policy_repo.in_effect(session, owner, draft.slug)
    run = backtests.add_run(
        session,
        draft_id=draft.id,
        slug=draft.slug,
        baseline_version=None if current is None else current.active_version,
        source=source,
        dataset=dataset,
        total=len(images),
        skipped_purged=skipped,
        created_by_tenant_id=owner,
        created_by=author.actor,
    )
    rows = [{k: v for k, v in asdict(i).items() if k != "purged"} for i in images]
    item_ids = backtests.add_items(session, run.id, rows)
    messages = [
        outbox.add(
            session, BACKTEST_TASK, BACKTEST_QUEUE, {"item_ids": item_ids[i : i + chunk_size]}
        )
        for i in range(0, len(item_ids), chunk_size)
    ]
    data = {
        "run_id": str(run.id),
        "draft_id": str(draft.id),
        "source": source,
        "total": run.total,
        "skipped_purged": skipped,
    }
    audit_authoring(session, author, draft.slug, "policy.backtest_started", data)
    return run, messages


@dataclass(frozen=True)
class BacktestStatus:
    """A run's progress (done/total, ETA) and its report over the items done so far."""

    run: BacktestRun
    done: int
    failed: int
    eta_s: float | None
    report: Report

    @property
    def state(self) -> str:
        """``running`` until every item has a result, then ``done``."""
        return "done" if self.done >= self.run.total else "running"


def eta_seconds(
    total: int, done: int, started: datetime, last_done: datetime | None
) -> float | None:
    """Seconds left at the rate so far (None before the first result; 0 when finished)."""
    if done >= total:
        return 0.0
    if done == 0 or last_done is None:
        return None
    elapsed = max((last_done - started).total_seconds(), 1e-3)
    return (total - done) * elapsed / done


def _stored_outcome(result: dict[str, Any] | None) -> Outcome | None:
    if result is None:
        return None
    return Outcome(result["action"], result["rating"], result["category"])


def _outcome(item: BacktestItem) -> ItemOutcome:
    draft = _stored_outcome(item.draft)
    assert draft is not None, "only finished items have outcomes"
    return ItemOutcome(
        label=item.label,
        link=None if item.submission_id is None else f"/v1/moderations/{item.submission_id}",
        expected=Outcome("", item.expected_rating, item.expected_category),
        draft=draft,
        baseline=_stored_outcome(item.baseline),
    )


def backtest_status(session: Session, run: BacktestRun, draft: PolicyDraft) -> BacktestStatus:
    """Progress and the report so far (items that failed count as done, not in the report)."""
    progress = backtests.progress(session, run.id)
    finished = [i for i in backtests.items(session, run.id) if i.draft is not None]
    report = build_report(draft_policy(draft).category_ids, [_outcome(i) for i in finished])
    eta = eta_seconds(run.total, progress.done, run.created_at, progress.last_done_at)
    return BacktestStatus(run, progress.done, progress.failed, eta, report)


def read_backtest(
    session: Session, author: Author, slug: str, run_id: uuid.UUID
) -> tuple[PolicyDraft, BacktestStatus]:
    """A backtest of ``slug`` that ``author`` may see, with its status; the read is audited.
    :class:`BacktestNotFound` when ``slug`` has no such run, :class:`DraftNotFound` when the
    author may not see its draft."""
    run = backtests.get_run(session, run_id)
    if run is None or run.slug != slug:
        raise BacktestNotFound(str(run_id))
    draft = get_draft(session, author, slug, run.draft_id)
    status = backtest_status(session, run, draft)
    audit_authoring(session, author, slug, "policy.backtest_read", {"run_id": str(run_id)})
    return draft, status
