"""Bank file import (issue #19): wall time and peak memory of `moderation banks import` of N
random PDQ hashes (`HEX,LABEL` lines) into a new global bank, then of the export.

    .venv/bin/python bench/bank_import.py [--rows 1000000]

Runs the real command in a child process against MODERATION_DATABASE_URL, or an embedded
Postgres (migrated here) when it is unset; the bank is deleted at the end. Peak memory is
each command's own maximum RSS. Results: docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path


def _moderation(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """Run `moderation ARGS`; (seconds, its peak RSS in MiB, the last line it printed)."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-m", "moderation.cli", *args], env=env, stdout=out, stderr=out
        )
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
        seconds = time.perf_counter() - started
        out.seek(0)
        lines = out.read().strip().splitlines()
    if status != 0:
        raise SystemExit(f"moderation {' '.join(args)} failed: {lines[-5:]}")
    return seconds, usage.ru_maxrss / 1024, lines[-1] if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = os.environ.get("MODERATION_DATABASE_URL")
        if not url:
            from moderation.admin import migrate
            from moderation.embedded import start_postgres

            url = start_postgres(work / "pg", stack)
            migrate(url)
        env = {**os.environ, "MODERATION_DATABASE_URL": url}
        file = work / "hashes.txt"
        with file.open("w") as out:
            for i in range(args.rows):
                out.write(f"{secrets.token_hex(32)},L{i % 7}\n")
        bank = f"bench-{uuid.uuid4().hex[:8]}"
        _moderation(env, "banks", "create", bank, "--action", "block")
        try:
            took, peak, summary = _moderation(env, "banks", "import", str(file), "--bank", bank)
            print(f"import: {args.rows:,} rows in {took:.1f} s ({args.rows / took:,.0f} rows/s)")
            print(f"  peak RSS {peak:.0f} MiB; {summary}")
            took, peak, summary = _moderation(
                env, "banks", "export", "--bank", bank, str(work / "out.csv")
            )
            print(f"export: {took:.1f} s, peak RSS {peak:.0f} MiB; {summary}")
        finally:
            _moderation(env, "banks", "delete", bank, "--yes")
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
