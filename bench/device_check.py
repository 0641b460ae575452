"""The engine's claims, checked on a device the test suite never sees (a lent GPU).

    python -m bench.device_check [--device cuda] [--dtypes bfloat16,float32]

For each architecture's tiny checkpoint and each dtype: the engine loads on the device (SDPA,
warm-up), greedy verdicts of a batch equal those at batch 1, ``policy_first`` verdicts with the
reused prefix equal the uncached ones, and every verdict's scores are distributions. Prints one
line per check and exits non-zero when any fails; a check that raises is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from PIL import Image

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, synthetic_images
from moderation.inference import (
    ARCHITECTURES,
    HFEngine,
    ModerationRequest,
    Verdict,
    build_tiny,
    load_engine,
)
from moderation.inference.loading import resolve_device
from moderation.inference.rubric import Rubric
from moderation.policies.format import load_policy_file

ROOT = Path(__file__).resolve().parents[1]


def _texts(
    engine: HFEngine, policy: Rubric, images: Sequence[Image.Image], batch: int
) -> list[str]:
    verdicts: list[Verdict] = []
    for i in range(0, len(images), batch):
        chunk = [ModerationRequest(image, policy) for image in images[i : i + batch]]
        verdicts += engine.moderate_batch(chunk)
    for v in verdicts:
        total = sum(v.scores.categories.values())
        assert abs(total - 1.0) < 1e-6, f"category scores sum to {total}"
        assert 0.0 <= v.scores.unsafe <= 1.0, f"unsafe score {v.scores.unsafe}"
    return [v.raw_text for v in verdicts]


def _compare(a: list[str], b: list[str], exact: bool) -> str:
    """'' when the raw verdict texts are identical, else how many are (and FAIL when ``exact``).

    ``exact`` (float32): they must be. In bfloat16 a batched or split matrix product rounds
    differently from a single row's and random weights leave near-ties everywhere, so verdicts
    drift: reported (``drift``), not failed.
    """
    same = sum(x == y for x, y in zip(a, b, strict=True))
    fields = sum(_head(x) == _head(y) for x, y in zip(a, b, strict=True))
    if same == len(a):
        return ""
    label = "FAIL" if exact else "drift"
    return f"{label} identical {same}/{len(a)}, rating+category {fields}/{len(a)}"


def _head(raw: str) -> tuple[object, object]:
    data = json.loads(raw)
    return data["rating"], data["category"]


def check_checkpoint(
    path: str, device: str, dtype: str, policy: Rubric, images: Sequence[Image.Image]
) -> list[tuple[str, str]]:
    """(check, outcome: '' for ok, else 'FAIL ...' or 'drift ...') for one checkpoint."""
    engine = load_engine(path, device=device, dtype=dtype, warm_up=True)
    text_config = engine.model.config.get_text_config(decoder=True)
    where = f"{engine.model.device.type} {str(engine.model.dtype).removeprefix('torch.')}"
    exact = dtype == "float32"
    n = len(images)
    first = replace(policy, prompt_layout="image_first", version=f"{policy.version}-image-first")
    cached = replace(policy, prompt_layout="policy_first", version=f"{policy.version}-policy-first")
    plain = load_engine(path, device=device, dtype=dtype, prefix_cache=False)
    with_prefix = _texts(engine, cached, images, n)
    return [
        ("loaded", "" if where == f"{device} {dtype}" else f"FAIL model is on {where}"),
        ("warmed up", "" if engine.warmed_up else "FAIL warm-up did not pass"),
        ("attention", "" if "sdpa" in text_config._attn_implementation else "FAIL not SDPA"),
        (
            f"batch {n} == batch 1",
            _compare(_texts(engine, first, images, 1), _texts(engine, first, images, n), exact),
        ),
        (
            "prefix cache == uncached",
            _compare(with_prefix, _texts(plain, cached, images, n), exact),
        ),
        (
            "prefix cache, batch 1",
            _compare(with_prefix, _texts(engine, cached, images, 1), exact),
        ),
    ]


def guarded(
    path: str, device: str, dtype: str, policy: Rubric, images: Sequence[Image.Image]
) -> list[tuple[str, str]]:
    """The checks' results, or one failed result carrying the exception."""
    try:
        return check_checkpoint(path, device, dtype, policy, images)
    except Exception:  # report every failure and go on to the next checkpoint
        return [
            ("load", "FAIL raised " + traceback.format_exc(limit=4).strip().replace("\n", " | "))
        ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run every check; exit status 1 when any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtypes", default="bfloat16,float32", type=lambda s: s.split(","))
    parser.add_argument("--images", default=6, type=int)
    parser.add_argument("--policy", default=str(ROOT / "policies" / "default.yaml"))
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    # short rationales keep random-weight verdicts short: the checks are about equality
    base = load_policy_file(Path(args.policy))
    policy = base.model_copy(update={"rationale_max_chars": 40}).rubric()
    images = synthetic_images(args.images)
    print(f"Machine: {machine(device)}", flush=True)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHITECTURES:
            path = str(build_tiny(arch, Path(tmp) / arch))
            for dtype in args.dtypes:
                started = time.perf_counter()
                results = guarded(path, device, dtype, policy, images)
                seconds = time.perf_counter() - started
                for check, outcome in results:
                    failed += outcome.startswith("FAIL")
                    print(f"{arch:16} {dtype:9} {check:26} {outcome or 'ok'}", flush=True)
                print(f"{arch:16} {dtype:9} {'(seconds)':26} {seconds:.1f}", flush=True)
    print(f"{failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
