"""PDQ index benchmark (issue #19): build time, memory, p50/p99 lookup at 10k/100k/1M entries,
and recall against brute force, for the index the workers use (moderation.banks.index).

    .venv/bin/python bench/hashes.py [--sizes 10000,100000,1000000] [--queries 2000]

Entries are random 256-bit hashes; half the queries are an entry with 1-31 bits flipped
(should match), half random (should not). Recall: share of brute-force matches within 31
that the index finds. Results: docs/benchmarks.md."""

from __future__ import annotations

import argparse
import resource
import time

import faiss
import numpy as np

from moderation.banks.index import PdqIndex

DISTANCE = 31


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _queries(codes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    near = codes[rng.integers(0, len(codes), n // 2)].copy()
    bits = np.unpackbits(near, axis=1)
    for row in bits:
        flip = rng.choice(256, rng.integers(1, DISTANCE + 1), replace=False)
        row[flip] ^= 1
    near = np.packbits(bits, axis=1)
    far = rng.integers(0, 256, (n - n // 2, 32), dtype=np.uint8)
    return np.concatenate([near, far])


def run(size: int, n_queries: int, rng: np.random.Generator) -> dict[str, float]:
    codes = rng.integers(0, 256, (size, 32), dtype=np.uint8)
    hexes = [bytes(c).hex() for c in codes]
    before = _rss_mib()
    started = time.perf_counter()
    index = PdqIndex()
    index.add(hexes, list(range(size)))
    build_s = time.perf_counter() - started
    memory = _rss_mib() - before
    queries = _queries(codes, n_queries, rng)
    qhex = [bytes(q).hex() for q in queries]
    times, found = [], []
    for q in qhex:
        t = time.perf_counter()
        found.append({i for i, _ in index.search([q], DISTANCE)[0]})
        times.append((time.perf_counter() - t) * 1000)
    flat = faiss.IndexBinaryFlat(256)
    flat.add(codes)
    lims, _, ids = flat.range_search(queries, DISTANCE + 1)
    truth = [set(ids[lims[i] : lims[i + 1]].tolist()) for i in range(len(queries))]
    total = sum(len(t) for t in truth)
    hit = sum(len(t & f) for t, f in zip(truth, found, strict=True))
    return {
        "size": size,
        "build_s": build_s,
        "memory_mib": memory,
        "p50_ms": float(np.percentile(times, 50)),
        "p99_ms": float(np.percentile(times, 99)),
        "recall": hit / total if total else 1.0,
        "matches": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)  # one lookup per worker thread, as in the flow
    rng = np.random.default_rng(19)
    print(
        "| entries | build (s) | index memory (MiB) | p50 lookup (ms) | p99 lookup (ms) | recall |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        r = run(size, args.queries, rng)
        print(
            f"| {r['size']:,} | {r['build_s']:.1f} | {r['memory_mib']:.0f} | {r['p50_ms']:.3f} "
            f"| {r['p99_ms']:.3f} | {r['recall']:.4f} ({r['matches']} matches) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
