"""Backtests end to end: a real worker on the ``backtest`` queue with a tiny checkpoint judges a
draft and the active version, from reviewed submissions (API) and from a labelled folder (CLI)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from moderation.cli import main
from moderation.review.repository import add_review
from moderation.storage.db import session_scope
from tests.conftest import Env, Keys
from tests.policies.support import (
    EVERYTHING_UNSAFE,
    create_draft,
    labelled_dataset,
    new_slug,
    publish_global,
    rubric,
)
from tests.support.db import count, rows
from tests.support.intake import accept_many
from tests.support.processes import ApiServer, WorkerProcess, start_worker


@pytest.fixture(scope="module")
def worker(
    checkpoints: dict[str, Path], db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    log = tmp_path_factory.mktemp("backtest-worker") / "worker.log"
    with start_worker(log, checkpoints["llava"], queues="backtest") as process:
        yield process


def _wait_done(client: httpx.Client, slug: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        body: dict[str, Any] = client.get(f"/v1/policies/{slug}/backtests/{run_id}").json()
        if body["state"] == "done":
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def _tenant_of(db: str, key: str) -> str:
    (row,) = rows(
        db,
        "SELECT t.name FROM tenants t JOIN api_keys k ON k.tenant_id = t.id WHERE k.prefix = :p",
        p=key[:12],
    )
    return str(row["name"])


def _reviewed_submissions(
    env: Env, db: str, slug: str, decide: Callable[[list[str]], None], tenant: str
) -> list[str]:
    """Four decided submissions of ``slug`` of ``tenant``: two confirmed, two overturned; and
    one reviewed submission of another tenant, which the backtest must not see."""
    blobs = env.data_dir / "blobs"
    ids = [sid for sid, _ in accept_many(db, blobs, [801, 802, 803, 804], tenant, slug)]
    (foreign,) = [sid for sid, _ in accept_many(db, blobs, [805], "bt-other-tenant", slug)]
    decide([*ids, foreign])
    decisions = {
        str(r["submission_id"]): r["id"]
        for r in rows(
            db,
            "SELECT id, submission_id FROM decisions WHERE submission_id::text = ANY(:ids)",
            ids=[*ids, foreign],
        )
    }
    with session_scope(db) as session:
        add_review(session, decision_id=decisions[ids[0]], reviewer="ann", outcome="confirm")
        add_review(session, decision_id=decisions[ids[1]], reviewer="ann", outcome="confirm")
        add_review(session, decision_id=decisions[foreign], reviewer="cy", outcome="confirm")
        for sid in ids[2:]:
            add_review(
                session,
                decision_id=decisions[sid],
                reviewer="bob",
                outcome="overturn",
                action="block",
                rating="unsafe",
                category="W1",
                note="a rifle for sale",
            )
    return ids


def test_backtest_of_reviewed_submissions(
    worker: WorkerProcess,
    api: ApiServer,
    keys: Keys,
    env: Env,
    db: str,
    decide: Callable[[list[str]], None],
) -> None:
    slug = new_slug("bt")
    # the global policy: tenant A's draft is based on it, and another tenant uses it too
    active = publish_global(db, slug, rubric(slug))
    with api.client(keys.a) as client:
        ids = _reviewed_submissions(env, db, slug, decide, _tenant_of(db, keys.a))
        decisions_before = count(db, "decisions")
        submissions_before = rows(db, "SELECT id, status, updated_at FROM submissions ORDER BY id")
        draft = create_draft(client, slug, rubric(slug, thresholds=EVERYTHING_UNSAFE))
        started = client.post(f"/v1/policies/{slug}/drafts/{draft['id']}/backtests", json={})
        assert started.status_code == 202, started.text
        assert started.json()["total"] == 4 and started.json()["baseline_version"] == active
        body = _wait_done(client, slug, started.json()["id"])

    assert (body["done"], body["failed"], body["eta_s"]) == (4, 0, 0.0)
    items = rows(
        db, "SELECT * FROM backtest_items WHERE run_id = :r ORDER BY position", r=body["id"]
    )
    live = {
        str(r["submission_id"]): r
        for r in rows(db, "SELECT * FROM decisions WHERE submission_id::text = ANY(:ids)", ids=ids)
    }
    for item in items:
        decision = live[str(item["submission_id"])]
        # the baseline went through the same path as the live decision: same outcome
        assert item["baseline"]["action"] == decision["action"]
        assert item["baseline"]["unsafe"] == pytest.approx(decision["scores"]["unsafe"], abs=1e-3)
        assert item["draft"]["rating"] == "unsafe"  # the draft's thresholds were applied
    overturned = {str(i["submission_id"]) for i in items if i["expected_category"] == "W1"}
    assert overturned == set(ids[2:])

    report = body["report"]
    assert report["items"] == 4
    agreeing = sum(
        i["expected_rating"] == "unsafe" and i["draft"]["category"] == i["expected_category"]
        for i in items
    )
    assert report["agreement"] == pytest.approx(agreeing / 4)
    flipped = {i["submission_id"] for i in items if i["draft"]["action"] != i["baseline"]["action"]}
    assert {f["link"] for f in report["flips"]} == {
        f"/v1/moderations/{s}" for s in map(str, flipped)
    }
    w1 = next(c for c in report["categories"] if c["category"] == "W1")
    assert w1["count"] == 2
    # a backtest writes no decision and leaves the submissions alone
    assert count(db, "decisions") == decisions_before
    assert (
        rows(db, "SELECT id, status, updated_at FROM submissions ORDER BY id") == submissions_before
    )


def test_backtest_of_a_labelled_folder_from_the_cli(
    worker: WorkerProcess, api: ApiServer, keys: Keys, db: str, tmp_path: Path
) -> None:
    slug = new_slug("bt")
    publish_global(db, slug, rubric(slug))  # the CLI drafts the operator's policy
    (tmp_path / "draft.yaml").write_text(rubric(slug, rationale_max_chars=100))
    dataset = labelled_dataset(tmp_path, [("unsafe", "W1"), ("safe", ""), ("unsafe", "D1")], 900)

    result = CliRunner().invoke(
        main, ["policies", "backtest", str(tmp_path / "draft.yaml"), "--dataset", str(dataset)]
    )
    assert result.exit_code == 0, result.output
    assert "backtest" in result.output and "items: 3" in result.output
    assert "agreement with reviewers: draft" in result.output
    (run,) = rows(
        db, "SELECT id, source, total, created_by FROM backtest_runs WHERE slug = :s", s=slug
    )
    assert (run["source"], run["total"]) == ("dataset", 3) and run["created_by"].startswith("cli:")
    items = rows(
        db, "SELECT label, draft, error FROM backtest_items WHERE run_id = :r", r=run["id"]
    )
    assert sorted(i["label"] for i in items) == ["0.png", "1.png", "2.png"]
    assert all(i["draft"] is not None and i["error"] is None for i in items)
    assert worker.log().count("backtest chunk done") >= 2
