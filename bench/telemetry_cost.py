"""What the worker's metrics and log lines cost per image, timed directly (the end-to-end
figure of ``bench/pipeline.py --telemetry off,on`` is below the noise of a loaded 2-core VM).

Per batch of 8, the calls the inference worker makes: the model-call counters and histograms,
the engine gauge, per image a decision counter and latency histogram, the span bookkeeping of
an upload (tracing off: OpenTelemetry's no-op spans), and the per-upload log line in its log
context, formatted as JSON and written to a file. In prometheus-client's multiprocess mode,
as the worker runs.

    python -m bench.telemetry_cost [--batches 2000]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from moderation.observability.processes import use_multiprocess_dir

BATCH = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    args = parser.parse_args()
    use_multiprocess_dir()
    from moderation.observability import metrics
    from moderation.observability.logs import JsonFormatter, log_context
    from moderation.observability.tracing import span, spans_for

    with tempfile.TemporaryDirectory() as tmp:
        handler = logging.FileHandler(Path(tmp) / "worker.log")
        handler.setFormatter(JsonFormatter())
        log = logging.getLogger("bench.worker")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
        headers = [{"request_id": f"req-{i}"} for i in range(BATCH)]
        started = time.perf_counter()
        for _ in range(args.batches):
            with spans_for("inference.moderate", list(headers)), span("inference.batch"):
                metrics.ENGINE_UP.labels("bench").set(1)
                metrics.MODEL_CALLS.inc()
                metrics.INFERENCE_BATCH_SIZE.observe(BATCH)
                metrics.INFERENCE_SECONDS.observe(0.5)
                for _ in range(BATCH):
                    metrics.DECISIONS.labels("allow", "model").inc()
                    metrics.DECISION_LATENCY.observe(1.5)
            for i, h in enumerate(headers):
                with log_context(request_id=h["request_id"], submission_id=i, task_id=i):
                    log.info("submission %s: %s", i, "decided")
        per_image_us = (time.perf_counter() - started) / (args.batches * BATCH) * 1e6
    print("| telemetry per image (batch of 8, multiprocess metrics, JSON log line) | value |")
    print("|---|---|")
    print(f"| images | {args.batches * BATCH} |")
    print(f"| time per image | {per_image_us:.1f} µs |")


if __name__ == "__main__":
    main()
