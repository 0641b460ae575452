"""Animated images benchmark (issue #21): the cost of an 8-frame GIF against a still image,
through the worker's flow on a real database with a tiny checkpoint on CPU.

    .venv/bin/python -m bench.animated [--n 16] [--batch 8] [--size 320x240]

Per image: intake's check (``inspect_image``), the worker's time outside the model (claim,
blob, decode and frame selection, frame hashes, cache reads, decision rows), model requests
and model time. Each kind runs in batches of ``--batch`` distinct images (no cache hits),
after a warm-up batch. Uses MODERATION_DATABASE_URL when set, else an embedded Postgres."""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import machine, markdown_table, service_database
from moderation.inference import load_engine
from moderation.inference.tiny import build_tiny
from moderation.storage.blobs import FileBlobStore
from moderation.submissions.images import inspect_image
from moderation.submissions.moderation_flow import FlowContext, moderate_submissions_flow
from tests.support import images
from tests.support.intake import accept_data


class Counting:
    """The engine, counting the requests it is handed."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.requests = engine, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def moderate_batch(self, requests: Any) -> Any:
        """The inner engine's verdicts; counts the requests."""
        self.requests += len(requests)
        return self.engine.moderate_batch(requests)


def _submit(db: str, blobs: Path, data: bytes) -> tuple[uuid.UUID, float]:
    started = time.perf_counter()
    info = inspect_image(data, max_bytes=20 * 2**20, max_pixels=40_000_000)
    check_ms = (time.perf_counter() - started) * 1000
    return accept_data(db, blobs, data, "bench", info=info).id, check_ms


def _run(
    ctx: FlowContext,
    blobs: Path,
    engine: Any,
    make: Callable[[int], bytes],
    seeds: range,
    batch: int,
) -> list[object]:
    counting = Counting(engine)
    checks, outside, model, calls = [], 0.0, 0.0, 0
    seeds_list = list(seeds)
    for start in range(0, len(seeds_list), batch):
        chunk = seeds_list[start : start + batch]
        made = [_submit(ctx.db_url, blobs, make(s)) for s in chunk]
        checks += [ms for _, ms in made]
        report = moderate_submissions_flow(ctx, counting, [sid for sid, _ in made])
        assert len(report.decided) == len(made), report
        outside += report.flow_ms - report.model_ms
        model += report.model_ms
        calls += report.model_calls
    n = len(seeds_list)
    return [
        f"{statistics.median(checks):.2f}",
        f"{outside / n:.1f}",
        f"{counting.requests / n:.1f}",
        f"{model / n:.0f}",
        f"{(outside + model) / n:.0f}",
        calls,
    ]


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=16, help="images of each kind")
    parser.add_argument("--batch", type=int, default=8, help="submissions per flow run")
    parser.add_argument("--size", default="320x240")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with ExitStack() as stack:
        db, base = service_database(stack)
        blobs = base / "blobs"
        ctx = FlowContext(db, FileBlobStore(blobs), 40_000_000, 3)
        engine = load_engine(str(build_tiny("llava", base / "tiny")), warm_up=True)

        def still(seed: int) -> bytes:
            return images.encode(images.photo(width, height, seed=seed), "PNG")

        def gif(seed: int) -> bytes:  # 12 frames, 8 of them different enough to judge
            return images.animation(width, height, seed=seed, frames=12)

        _run(ctx, blobs, engine, still, range(90_000, 90_000 + args.batch), args.batch)  # warm-up
        rows = [
            ["still PNG", *_run(ctx, blobs, engine, still, range(1, 1 + args.n), args.batch)],
            [
                "12-frame GIF, 8 judged",
                *_run(ctx, blobs, engine, gif, range(1, 1 + args.n), args.batch),
            ],
        ]
    header = [
        f"{width}x{height}, per image",
        "intake check ms (p50)",
        "worker ms outside the model",
        "model requests",
        "model ms",
        "worker ms in all",
        "engine calls (all)",
    ]
    print(markdown_table(header, rows))
    print(f"\n{machine('cpu')}")


if __name__ == "__main__":
    main()
