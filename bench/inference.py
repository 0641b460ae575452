"""Images/s and % schema-valid: a model-card generate loop against our batched worker path.

    python bench/inference.py [--arch llava_onevision] [--sizes tiny,small] [--images N]
        [--batches 1,4,8,16] [--layouts image_first,policy_first] [--device auto]
        [--sequential-images N] [--workdir DIR] [--vllm 1,16,32]

Every row comes from this one run, on the same checkpoints and machine (docs/benchmarks.md).
On a GPU: ``--arch llava --sizes 7b`` measures a random-weight checkpoint with the shapes of
LLaVA-1.5-7B, built there (13.5 GB in ``--workdir``). ``--sequential-images N`` runs the batch-1
and naive rows over the first N images only; the naive loop still writes as many tokens as our
verdicts average over all the images, so its cost per image is the same as over all of them
(our batch-1 row's own mean is in its row).

``--vllm 1,16,32`` adds the ``vllm`` rows: the same checkpoint served by ``moderation engine
serve`` (``make vllm``; same dtype as the local engine) and judged through the worker's
``VLLMEngine`` (same prompt, grammar, logprobs and scores) with that many requests kept in
flight; its "batch" column is that concurrency. Not for the tiny preset (vLLM's CPU attention
refuses head size 16).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, markdown_table, synthetic_images
from moderation.inference import HFEngine, ModerationRequest, build_tiny, load_engine
from moderation.inference.loading import load_processor, resolve_device, resolve_dtype
from moderation.inference.prompt import conversation
from moderation.inference.rubric import Rubric
from moderation.inference.served import VLLMEngine
from moderation.inference.verdict_format import GENERIC
from moderation.inference.vllm_server import ServeOptions, spawn_serve, wait_until_serving
from moderation.policies.format import Policy, load_policy_file

ROOT = Path(__file__).resolve().parents[1]
HEADER = (
    "size",
    "path",
    "layout",
    "batch",
    "images",
    "images/s",
    "speed-up vs naive",
    "% valid",
    "mean new tokens",
    "prefill tokens/image",
)


@dataclass(frozen=True)
class Row:
    """One measured configuration."""

    size: str
    path: str
    layout: str
    batch: int
    images: int
    images_per_s: float
    valid: float  # fraction of schema-valid outputs
    new_tokens: float  # per image, stop token included
    prefill_tokens: float  # per image, prompt tokens run through the model


def conforms(text: str, policy: Rubric) -> bool:
    """json.loads + the verdict JSON schema (keys, enums, rationale pattern); any whitespace."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return False
    schema = GENERIC.verdict_schema(policy)
    if not isinstance(data, dict) or set(data) != set(schema["required"]):
        return False
    for key, rule in schema["properties"].items():
        value = data[key]
        if not isinstance(value, str):
            return False
        if "enum" in rule and value not in rule["enum"]:
            return False
        if "pattern" in rule and not re.search(rule["pattern"], value):
            return False
    return True


def run_engine(engine: HFEngine, policy: Rubric, images: Sequence[Image.Image], batch: int) -> Row:
    """Our worker path: ``moderate_batch`` over the images in batches of ``batch``."""
    before = (engine.counters.prefill_tokens, engine.counters.generated_tokens)
    valid = 0
    started = time.perf_counter()
    for i in range(0, len(images), batch):
        chunk = [ModerationRequest(image, policy) for image in images[i : i + batch]]
        valid += sum(conforms(v.raw_text, policy) for v in engine.moderate_batch(chunk))
    seconds = time.perf_counter() - started
    n = len(images)
    return Row(
        size="",
        path="ours",
        layout=policy.prompt_layout,
        batch=batch,
        images=n,
        images_per_s=n / seconds,
        valid=valid / n,
        new_tokens=(engine.counters.generated_tokens - before[1]) / n,
        prefill_tokens=(engine.counters.prefill_tokens - before[0]) / n,
    )


def run_served(url: str, policy: Rubric, images: Sequence[Image.Image], c: int) -> Row:
    """The worker path with ``MODERATION_ENGINE=vllm``, ``c`` requests kept in flight (what a
    worker with several batches in flight, or several workers, keep the server busy with)."""
    engine = VLLMEngine(url, concurrency=c, timeout_s=900)
    engine.connect()
    engine.moderate_batch([ModerationRequest(image, policy) for image in images[:2]])  # warm-up
    before = (engine.counters.prompt_tokens, engine.counters.generated_tokens)
    started = time.perf_counter()
    verdicts = engine.moderate_batch([ModerationRequest(image, policy) for image in images])
    seconds = time.perf_counter() - started
    valid = sum(conforms(v.raw_text, policy) for v in verdicts)
    n = len(images)
    prompt = (engine.counters.prompt_tokens - before[0]) / n
    new = (engine.counters.generated_tokens - before[1]) / n
    engine.close()
    return Row("", "vllm", policy.prompt_layout, c, n, n / seconds, valid / n, new, prompt)


def bench_served(
    path: str, dtype: str, args: argparse.Namespace, base: Policy, images: Sequence[Image.Image]
) -> list[Row]:
    """The vllm rows: start the server on the checkpoint, measure, stop it."""
    options = ServeOptions(model=path, port=args.vllm_port, dtype=dtype)
    log_path = Path(args.workdir or tempfile.gettempdir()) / "bench-vllm.log"
    started = time.perf_counter()
    proc = spawn_serve(options, log_path)
    rows = []
    try:
        url = f"http://127.0.0.1:{args.vllm_port}/v1"
        wait_until_serving(proc, url, log_path, timeout_s=900)
        progress(f"vLLM serving in {time.perf_counter() - started:.0f} s (log {log_path})")
        for layout in args.layouts:
            policy = base.model_copy(update={"prompt_layout": layout}).rubric()
            for c in args.vllm:
                sequential = images[: args.sequential_images or len(images)]
                rows.append(run_served(url, policy, sequential if c == 1 else images, c))
                progress(rows[-1])
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return rows


def naive_generate(model: Any, processor: Any, policy: Rubric, image: Image.Image, k: int) -> str:
    """What a LLaVA model card shows: chat template, processor, one ``generate``, decode."""
    text = processor.apply_chat_template(conversation(policy), add_generation_prompt=True)
    inputs = processor(images=image, text=text, return_tensors="pt").to(model.device, model.dtype)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=k, min_new_tokens=k, do_sample=False)
    new = output[0, inputs["input_ids"].shape[1] :]
    assert len(new) == k, f"naive loop generated {len(new)} tokens, expected {k}"
    return str(processor.decode(new, skip_special_tokens=True))


def run_naive(
    model: Any, processor: Any, policy: Rubric, images: Sequence[Image.Image], k: int
) -> Row:
    """The naive loop: one unconstrained ``generate`` of exactly ``k`` tokens per image."""
    prefill = valid = 0
    started = time.perf_counter()
    for image in images:
        valid += conforms(naive_generate(model, processor, policy, image, k).strip(), policy)
    seconds = time.perf_counter() - started
    for image in images:  # prompt lengths, outside the timed loop
        text = processor.apply_chat_template(conversation(policy), add_generation_prompt=True)
        prefill += processor(images=image, text=text, return_tensors="pt")["input_ids"].shape[1]
    n = len(images)
    return Row("", "naive", policy.prompt_layout, 1, n, n / seconds, valid / n, k, prefill / n)


def bench_size(
    size: str, args: argparse.Namespace, base: Policy, images: Sequence[Image.Image]
) -> tuple[list[Row], int]:
    """Every row for one checkpoint size: ours per layout and batch, then the naive loops."""
    rows: list[Row] = []
    device = resolve_device(args.device)
    sequential = images[: args.sequential_images or len(images)]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        started = time.perf_counter()
        path = str(build_tiny(args.arch, Path(tmp) / size, size=size, device=device))
        built = time.perf_counter()
        engine = load_engine(path, device=args.device)
        progress(
            f"{size}: built in {built - started:.0f} s, loaded and warmed up in "
            f"{time.perf_counter() - built:.0f} s"
        )
        params = sum(p.numel() for p in engine.model.parameters())
        for layout in args.layouts:
            policy = base.model_copy(update={"prompt_layout": layout}).rubric()
            run_engine(engine, policy, images[:2], 2)  # warm-up: grammar, prefix cache
            for b in args.batches:
                rows.append(run_engine(engine, policy, sequential if b == 1 else images, b))
                progress(rows[-1])
        dtype = engine.dtype
        del engine  # the naive model takes its place in (GPU) memory
        _empty_cache()
        if args.vllm:
            rows += bench_served(path, dtype, args, base, images)
        model = load_naive_model(path, device)
        processor = load_processor(path)
        for layout in args.layouts:
            policy = base.model_copy(update={"prompt_layout": layout}).rubric()
            k = naive_tokens([r for r in rows if r.layout == layout and r.path == "ours"])
            naive_generate(model, processor, policy, images[0], 4)  # warm-up
            rows.append(run_naive(model, processor, policy, sequential, k))
            progress(rows[-1])
        del model
        _empty_cache()
    return [Row(size, *_fields(r)[1:]) for r in rows], params


def naive_tokens(ours: Sequence[Row]) -> int:
    """K for the naive loop: what our verdicts average over all the images (the batched rows)."""
    full = max(r.images for r in ours)
    same = [r for r in ours if r.images == full]
    return round(sum(r.new_tokens for r in same) / len(same))


def progress(line: object) -> None:
    """A line on stderr as the run goes (a run cut short still shows what it measured)."""
    print(line, file=sys.stderr, flush=True)


def _empty_cache() -> None:
    gc.collect()
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated() / 2**30
        progress(f"peak GPU memory so far {peak:.1f} GiB")
        torch.cuda.empty_cache()


def load_naive_model(path: str, device: str) -> Any:
    """The model as a model card loads it (same dtype and device as the engine, for fairness)."""
    dtype = resolve_dtype("auto", device)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=getattr(torch, dtype))
    return model.to(device).eval()


def _fields(row: Row) -> list[Any]:
    return [getattr(row, name) for name in Row.__dataclass_fields__]


def table(rows: Sequence[Row]) -> str:
    """The markdown table; speed-up against the naive loop of the same size and layout."""
    naive = {(r.size, r.layout): r.images_per_s for r in rows if r.path == "naive"}
    paths = {"naive": 0, "ours": 1, "vllm": 2}
    order = sorted(rows, key=lambda r: (r.size != "tiny", r.layout, paths[r.path], r.batch))
    cells = [
        (
            r.size,
            r.path,
            r.layout,
            r.batch,
            r.images,
            f"{r.images_per_s:.2f}",
            f"{r.images_per_s / naive[(r.size, r.layout)]:.2f}x",
            f"{100 * r.valid:.0f}%",
            f"{r.new_tokens:.1f}",
            f"{r.prefill_tokens:.0f}",
        )
        for r in order
    ]
    return markdown_table(HEADER, cells)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="llava_onevision")
    parser.add_argument("--sizes", default="tiny,small", type=lambda s: s.split(","))
    parser.add_argument("--images", default=16, type=int)
    parser.add_argument("--batches", default="1,4,8,16", type=_ints)
    parser.add_argument(
        "--layouts", default="image_first,policy_first", type=lambda s: s.split(",")
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sequential-images", type=int, default=None)
    parser.add_argument("--workdir", default=None, help="where checkpoints are built")
    parser.add_argument("--policy", default=str(ROOT / "policies" / "default.yaml"))
    parser.add_argument(
        "--vllm", default=[], type=_ints, help="concurrencies of the vllm rows (e.g. 1,16,32)"
    )
    parser.add_argument("--vllm-port", default=8190, type=int)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Run every configuration and print one table."""
    args = parse_args(argv)
    base = load_policy_file(Path(args.policy))
    images = synthetic_images(args.images)
    started, load = time.perf_counter(), os.getloadavg()[0]
    rows, sizes = [], []
    for size in args.sizes:
        size_rows, params = bench_size(size, args, base, images)
        rows += size_rows
        sizes.append(f"{size} {params / 1e6:.1f}M parameters")
    print(f"Machine: {machine(resolve_device(args.device))} (1-minute load at start {load:.2f})")
    print(f"Checkpoints: {args.arch}, random weights, {', '.join(sizes)}")
    print(f"Policy {base.version}; {len(images)} synthetic images; wall time ", end="")
    print(f"{time.perf_counter() - started:.0f} s\n")
    print(table(rows))


if __name__ == "__main__":
    main()
