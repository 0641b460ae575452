"""The worker's flow in-process, on the real database and a real tiny checkpoint:
the verdict cache saves model calls, failures are isolated, redelivery is harmless."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from moderation.accounts import tenant_repository as tenants
from moderation.inference.rubric import Rubric
from moderation.inference.types import EngineUnavailable, ModerationRequest, Verdict
from moderation.storage.blobs import FileBlobStore
from moderation.storage.db import session_scope
from moderation.submissions import repository as submissions
from moderation.submissions.moderation_flow import (
    FlowContext,
    FlowReport,
    moderate_submissions_flow,
)
from moderation.submissions.types import Status
from moderation.webhooks import endpoint_repository as webhook_endpoints
from tests.conftest import Env
from tests.support.db import count, rows
from tests.support.intake import accept_without_sending


class CountingEngine:
    """A real engine that counts model calls (and can be told to fail on some images)."""

    def __init__(self, engine: Any, fail_on_width: int | None = None) -> None:
        self.engine, self.fail_on_width = engine, fail_on_width
        self.calls: list[int] = []
        self.model_id, self.revision = engine.model_id, engine.revision
        self.device, self.dtype, self.warmed_up = engine.device, engine.dtype, True

    def decoding_params(self, rubric: Rubric) -> dict[str, object]:
        return dict(self.engine.decoding_params(rubric))

    def ready(self) -> None:
        """The wrapped engine is in this process: always ready."""

    def warm_up(self) -> None:
        """Nothing to do: the wrapped engine is ready."""

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        self.calls.append(len(requests))
        if any(r.image.width == self.fail_on_width for r in requests):
            raise RuntimeError("this image breaks the model")
        return list(self.engine.moderate_batch(requests))


class DownEngine(CountingEngine):
    """An engine whose server is down: before the batch (``ready``), or during the model call."""

    def __init__(self, engine: Any, down_from_start: bool) -> None:
        super().__init__(engine)
        self.down_from_start = down_from_start

    def ready(self) -> None:
        if self.down_from_start:
            raise EngineUnavailable("inference server unreachable")

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        self.calls.append(len(requests))
        raise EngineUnavailable("inference server answered 503")


class HeldEngine(CountingEngine):
    """Holds its model call until released: a worker still busy with a batch."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.started, self.release = threading.Event(), threading.Event()

    def moderate_batch(self, requests: Sequence[ModerationRequest]) -> list[Verdict]:
        self.started.set()
        assert self.release.wait(60), "never released"
        return super().moderate_batch(requests)


@pytest.fixture(scope="module")
def engine(checkpoints: dict[str, Path]) -> Any:
    from moderation.inference import load_engine

    return load_engine(str(checkpoints["llava"]), warm_up=False)


def _ctx(env: Env, db: str) -> FlowContext:
    blobs = FileBlobStore(env.data_dir / "blobs")
    return FlowContext(db_url=db, blobs=blobs, max_pixels=10**7, max_attempts=3)


def _submit(env: Env, db: str, seed: int, policy: str = "default") -> uuid.UUID:
    sid, _ = accept_without_sending(db, env.data_dir / "blobs", seed=seed, policy=policy)
    return uuid.UUID(sid)


def test_reupload_of_a_decided_image_is_decided_from_the_cache(
    env: Env, db: str, engine: Any
) -> None:
    counting = CountingEngine(engine)
    first = _submit(env, db, seed=700)
    report = moderate_submissions_flow(_ctx(env, db), counting, [first])
    assert report.decided == [first] and counting.calls == [1]

    again = _submit(env, db, seed=700)  # same bytes, same policy version, same model
    report = moderate_submissions_flow(_ctx(env, db), counting, [again])
    assert report.cached == [again] and counting.calls == [1]  # no model call

    (original,) = rows(db, "SELECT * FROM decisions WHERE submission_id = :s", s=str(first))
    (reused,) = rows(db, "SELECT * FROM decisions WHERE submission_id = :s", s=str(again))
    assert (original["source"], reused["source"]) == ("model", "cache")
    assert reused["cached_from"] == original["id"]
    assert reused["verdict_key"] == original["verdict_key"]
    for field in (
        "action",
        "rating",
        "category",
        "rationale",
        "scores",
        "raw_text",
        "prompt_sha256",
    ):
        assert reused[field] == original[field], field


@pytest.mark.parametrize("down_from_start", [True, False], ids=["before", "mid-batch"])
def test_an_unavailable_engine_gives_the_batch_back_without_using_an_attempt(
    env: Env, db: str, engine: Any, down_from_start: bool
) -> None:
    first = 730 if down_from_start else 740  # other images: the verdict cache must not answer
    ids = [_submit(env, db, seed=first + n) for n in range(3)]
    down = DownEngine(engine, down_from_start)
    for _ in range(2):  # an outage that lasts: the same again, nothing used up
        report = moderate_submissions_flow(_ctx(env, db), down, ids)
        assert sorted(report.unavailable) == sorted(ids)
        assert report.failed == report.retry == report.decided == []
    assert down.calls == ([] if down_from_start else [3, 3])  # one call per batch, not split
    found = rows(
        db,
        "SELECT status, attempts FROM submissions WHERE id::text = ANY(:ids)",
        ids=[str(i) for i in ids],
    )
    assert found == [{"status": "queued", "attempts": 0}] * 3
    report = moderate_submissions_flow(_ctx(env, db), CountingEngine(engine), ids)  # it is back
    assert sorted(report.decided) == sorted(ids)


def test_other_policy_version_is_not_served_from_the_cache(env: Env, db: str, engine: Any) -> None:
    counting = CountingEngine(engine)
    moderate_submissions_flow(_ctx(env, db), counting, [_submit(env, db, seed=701)])
    other = _submit(env, db, seed=701, policy="marketplace")
    report = moderate_submissions_flow(_ctx(env, db), counting, [other])
    assert report.decided == [other] and counting.calls == [1, 1]


def test_another_tenants_verdict_is_not_served_from_the_cache(
    env: Env, db: str, engine: Any
) -> None:
    """The same bytes under the same policy, uploaded by two tenants: each gets its own model
    call, and nothing of the first tenant's decision reaches the second's."""
    counting = CountingEngine(engine)
    first = _submit(env, db, seed=781)
    moderate_submissions_flow(_ctx(env, db), counting, [first])
    other_id, _ = accept_without_sending(db, env.data_dir / "blobs", seed=781, tenant="other")
    other = uuid.UUID(other_id)
    report = moderate_submissions_flow(_ctx(env, db), counting, [other])
    assert report.decided == [other] and counting.calls == [1, 1]
    (row,) = rows(
        db, "SELECT source, cached_from FROM decisions WHERE submission_id = :s", s=str(other)
    )
    assert row == {"source": "model", "cached_from": None}


def test_one_bad_image_fails_alone_and_the_rest_of_the_batch_is_decided(
    env: Env, db: str, engine: Any
) -> None:
    counting = CountingEngine(engine, fail_on_width=17)
    good = [_submit(env, db, seed=s) for s in (702, 703)]
    bad_id, _ = accept_without_sending(db, env.data_dir / "blobs", seed=704, size=(17, 40))
    bad = uuid.UUID(bad_id)
    report = moderate_submissions_flow(_ctx(env, db), counting, [*good, bad])
    assert sorted(report.decided) == sorted(good)
    assert report.retry == [bad]
    assert counting.calls[0] == 3 and sorted(counting.calls[1:]) == [1, 1, 1]
    (row,) = rows(db, "SELECT status, error, attempts FROM submissions WHERE id = :s", s=str(bad))
    assert row["status"] == "queued" and "breaks the model" in row["error"]


def test_running_the_flow_twice_decides_once(env: Env, db: str, engine: Any) -> None:
    sid = _submit(env, db, seed=705)
    counting = CountingEngine(engine)
    moderate_submissions_flow(_ctx(env, db), counting, [sid, sid])
    report = moderate_submissions_flow(_ctx(env, db), counting, [sid, uuid.uuid4()])
    assert len(report.skipped) == 2 and counting.calls == [1]
    assert rows(db, "SELECT count(*) AS n FROM decisions WHERE submission_id = :s", s=str(sid)) == [
        {"n": 1}
    ]


def _held_and_duplicated(
    env: Env, db: str, engine: Any, seed: int, attempts_before: int = 0
) -> tuple[uuid.UUID, FlowReport, FlowReport, CountingEngine]:
    """A worker holds a submission in its model call while a duplicate message for it runs
    the flow (the sweeper re-enqueued it, the relay re-sent it, the broker redelivered it);
    ``attempts_before``: attempts its dead predecessors used. The duplicate's report, the
    holder's, and the duplicate's engine."""
    tenant = f"dup-{uuid.uuid4().hex[:8]}"
    with session_scope(db) as session:
        owner = tenants.create(session, tenant)
        webhook_endpoints.add(
            session,
            owner.id,
            "https://hooks.example/d",
            ["moderation.decided", "moderation.failed"],
            "-",
        )
    sid = uuid.UUID(accept_without_sending(db, env.data_dir / "blobs", seed=seed, tenant=tenant)[0])
    _claimed_by_a_dead_worker(db, [sid], times=attempts_before)
    held, duplicate_engine = HeldEngine(engine), CountingEngine(engine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(moderate_submissions_flow, _ctx(env, db), held, [sid])
        assert held.started.wait(60)
        duplicate = moderate_submissions_flow(_ctx(env, db), duplicate_engine, [sid])
        held.release.set()
        holder = first.result(timeout=60)
    return sid, duplicate, holder, duplicate_engine


def test_a_duplicate_message_while_a_worker_holds_the_submission_is_skipped(
    env: Env, db: str, engine: Any
) -> None:
    """The duplicate neither runs the model nor uses an attempt: one decision, one
    ``moderation.decided`` message."""
    sid, duplicate, holder, duplicate_engine = _held_and_duplicated(env, db, engine, seed=707)
    assert (duplicate.skipped, duplicate_engine.calls, holder.decided) == ([sid], [], [sid])
    assert count(db, "decisions WHERE submission_id = :s", s=str(sid)) == 1
    assert count(db, "webhook_messages WHERE submission_id = :s", s=str(sid)) == 1
    made = "audit_events WHERE subject_id = :s AND event = 'decision.made'"
    assert count(db, made, s=str(sid)) == 1
    (row,) = rows(db, "SELECT status, attempts FROM submissions WHERE id = :s", s=str(sid))
    assert row == {"status": "decided", "attempts": 1}


def test_a_duplicate_never_gives_up_on_a_live_final_attempt(env: Env, db: str, engine: Any) -> None:
    """At the attempt cap, a duplicate message used to fail the submission at once, while
    its last attempt was still running: ``moderation.failed``, then the decision."""
    sid, duplicate, holder, _ = _held_and_duplicated(env, db, engine, seed=708, attempts_before=2)
    assert (duplicate.failed, duplicate.skipped, holder.decided) == ([], [sid], [sid])
    (row,) = rows(db, "SELECT status, attempts FROM submissions WHERE id = :s", s=str(sid))
    assert row == {"status": "decided", "attempts": 3}
    failed = "webhook_messages WHERE submission_id = :s AND event = 'moderation.failed'"
    assert count(db, failed, s=str(sid)) == 0


def test_a_decided_submission_is_never_failed_by_a_late_writer(env: Env, db: str) -> None:
    """A writer that read the submission as processing, then locks it after another worker
    decided it, sees it decided (the lock refreshes the row) and changes nothing."""
    from moderation.submissions.moderation_flow import _fail_all

    sid = _submit(env, db, seed=709)
    _claimed_by_a_dead_worker(db, [sid])
    with session_scope(db) as late:
        (stale,) = submissions.get_many(late, [sid])  # read as processing
        assert stale.status == "processing"
        with session_scope(db) as other:
            other.execute(
                text("UPDATE submissions SET status = 'decided' WHERE id = :s"), {"s": sid}
            )
        assert _fail_all(late, [(sid, "gave up")], "gave_up") == []
        assert not submissions.finish(late, sid, Status.FAILED, "gave up")
    (row,) = rows(db, "SELECT status, error FROM submissions WHERE id = :s", s=str(sid))
    assert row == {"status": "decided", "error": None}
    assert (
        count(db, "audit_events WHERE subject_id = :s AND event = 'submission.failed'", s=str(sid))
        == 0
    )


def _claimed_by_a_dead_worker(db: str, ids: list[uuid.UUID], times: int = 1) -> None:
    """Claim ``ids`` as a worker would before its model call, ``times`` times, and never
    finish them: what a worker killed mid-batch leaves behind."""
    for _ in range(times):
        with session_scope(db) as session:
            submissions.start_attempts(session, ids, max_attempts=10)


def test_suspects_of_a_dead_batch_run_one_at_a_time_after_the_fresh_ones(
    env: Env, db: str, engine: Any
) -> None:
    fresh = [_submit(env, db, seed=seed) for seed in (720, 721)]
    suspects = [_submit(env, db, seed=seed) for seed in (722, 723, 724)]
    _claimed_by_a_dead_worker(db, suspects)
    counting = CountingEngine(engine)
    report = moderate_submissions_flow(_ctx(env, db), counting, [*suspects, *fresh])
    assert counting.calls == [2, 1, 1, 1]
    assert report.isolated == suspects
    assert sorted(report.decided) == sorted([*fresh, *suspects])
    states = rows(db, "SELECT status, attempts FROM submissions WHERE id = ANY(:i)", i=suspects)
    assert all(s == {"status": "decided", "attempts": 2} for s in states), states


def test_a_suspect_at_the_attempt_cap_fails_saying_the_worker_stopped(
    env: Env, db: str, engine: Any
) -> None:
    sid = _submit(env, db, seed=725)
    _claimed_by_a_dead_worker(db, [sid], times=3)
    counting = CountingEngine(engine)
    report = moderate_submissions_flow(_ctx(env, db), counting, [sid])
    assert (report.failed, report.isolated, counting.calls) == ([sid], [], [])
    (row,) = rows(db, "SELECT status, error FROM submissions WHERE id = :s", s=str(sid))
    assert row["status"] == "failed"
    assert "gave up after 3 attempts: the worker stopped during each" in str(row["error"])


def test_warm_up_writes_nothing(env: Env, db: str, engine: Any) -> None:
    from moderation.submissions.moderation_flow import warm_up_flow
    from tests.support.db import count

    tables = ("submissions", "decisions", "audit_events", "outbox", "webhook_messages")
    before = {t: count(db, t) for t in tables}
    counting = CountingEngine(engine)
    warm_up_flow(_ctx(env, db), counting)
    assert {t: count(db, t) for t in tables} == before
    assert counting.calls == []
