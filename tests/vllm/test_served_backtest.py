"""Backtests with MODERATION_ENGINE=vllm: the backtest worker calls the same server as live
moderation and holds no model of its own."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from moderation.cli import main
from tests.conftest import Keys
from tests.policies.support import labelled_dataset, new_slug, publish_global, rubric
from tests.support.db import rows
from tests.support.processes import ApiServer
from tests.support.vllm import VllmServer, start_served_worker


def test_a_dataset_backtest_is_judged_by_the_server(
    vllm_server: VllmServer,
    api: ApiServer,
    keys: Keys,
    db: str,
    tmp_path: Path,
) -> None:
    slug = new_slug("vbt")
    publish_global(db, slug, rubric(slug))  # the CLI drafts the operator's policy
    (tmp_path / "draft.yaml").write_text(rubric(slug, rationale_max_chars=60))
    dataset = labelled_dataset(tmp_path, [("unsafe", "W1"), ("safe", ""), ("safe", "")], 950, 30)
    with start_served_worker(
        tmp_path / "worker.log",
        vllm_server,
        queues="backtest",
    ) as worker:
        result = CliRunner().invoke(
            main, ["policies", "backtest", str(tmp_path / "draft.yaml"), "--dataset", str(dataset)]
        )
        assert result.exit_code == 0, result.output
        assert "libtorch" not in Path(f"/proc/{worker.proc.pid}/maps").read_text()
    (run,) = rows(db, "SELECT id, total FROM backtest_runs WHERE slug = :s", s=slug)
    items = rows(
        db, "SELECT draft, baseline, error FROM backtest_items WHERE run_id = :r", r=run["id"]
    )
    assert len(items) == run["total"] == 3
    assert all(i["error"] is None and i["draft"] and i["baseline"] for i in items)
    assert "backtest chunk done" in worker.log()
