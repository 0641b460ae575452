"""Review console benchmark (issue #23): two reviewers in one headless Chromium work the
queue from Start reviewing, interleaved, 20 decisions in all, with keys only; reports page
loads, key presses and seconds per decision by kind, and collisions (an item opened by both).

    .venv/bin/python -m bench.review_console [--decisions 20]

Uses MODERATION_DATABASE_URL when set, else an embedded Postgres; serves the real API +
console with uvicorn on a loopback port (no relay, no workers: the items are decided with
fixed verdicts, as in the tests)."""

from __future__ import annotations

import argparse
import statistics
import uuid
from contextlib import ExitStack
from dataclasses import dataclass

from playwright.sync_api import sync_playwright

from bench.common import markdown_table, service_database
from moderation.config import Settings
from tests.browser.conftest import chromium_path
from tests.browser.review_run import KeyRun, current_item
from tests.browser.support import log_in
from tests.console.support import make_account
from tests.review.support import decided
from tests.support.processes import start_api

# (kind, keys, note): what a reviewer presses for one item, cycling
PLAN: list[tuple[str, tuple[str, ...], str | None]] = [
    ("model's category right", ("b",), None),
    ("model's category right", ("b",), None),
    ("model's category right", ("b",), None),
    ("safe after all (allow + note)", ("a",), "toy"),
    ("model's category right", ("b",), None),
    ("other category (digit + block + note)", ("1", "b"), "slur"),
    ("model's category right", ("2", "b"), None),
]


@dataclass
class Cost:
    """What one decision cost."""

    kind: str
    loads: int
    keys: int
    seconds: float


def _decide(run: KeyRun, kind: str, keys: tuple[str, ...], note: str | None) -> Cost:
    loads, pressed = run.loads, run.keys
    run.decide(*keys, note=note)
    return Cost(kind, run.loads - loads, run.keys - pressed, run.seconds[-1])


def _table(costs: list[Cost]) -> str:
    kinds = [*sorted({c.kind for c in costs}), "all"]
    rows = []
    for kind in kinds:
        mine = [c for c in costs if kind in ("all", c.kind)]
        rows.append(
            [
                kind,
                len(mine),
                f"{statistics.mean(c.loads for c in mine):.2f} (max {max(c.loads for c in mine)})",
                f"{statistics.mean(c.keys for c in mine):.2f} (max {max(c.keys for c in mine)})",
                f"{statistics.median(c.seconds for c in mine):.3f}",
            ]
        )
    header = ["decision", "n", "page loads", "key presses", "median s / decision"]
    return markdown_table(header, rows)


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=20)
    args = parser.parse_args()
    with ExitStack() as stack:
        db, base = service_database(stack)
        settings = Settings(database_url=db, relay_in_api=False, data_dir=base / "data")
        batch = decided(db, settings.resolved_blob_dir, ["review"] * (args.decisions + 4))
        api = stack.enter_context(start_api(settings, publish=lambda *a: None))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        runs = []
        for _ in range(2):
            page = browser.new_context(base_url=api.url).new_page()
            log_in(page, make_account(db, "reviewer", batch.tenant_id))
            runs.append(KeyRun(page))
        opened: list[set[uuid.UUID]] = [{run.start()} for run in runs]
        costs = []
        for i in range(args.decisions):
            run = runs[i % 2]
            kind, keys, note = PLAN[(i // 2) % len(PLAN)]
            costs.append(_decide(run, kind, keys, note))
            following = current_item(run.page)
            if following is not None:
                opened[i % 2].add(following)
        browser.close()
    print(_table(costs))
    print(f"\ncollisions (items opened by both reviewers): {len(opened[0] & opened[1])}")


if __name__ == "__main__":
    main()
