"""The import-linter contracts name every route and repository module (the tool cannot match
part of a name), and `lint-imports` holds them: an arrow pointing the wrong way fails here too."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _contract(name_start: str) -> dict[str, list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    return next(c for c in contracts if c["name"].startswith(name_start))


def _modules(suffix: str) -> set[str]:
    found = (ROOT / "moderation").glob(f"*/*{suffix}.py")
    return {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in found}


def test_every_route_and_repository_module_is_under_contract() -> None:
    contract = _contract("routes never reach a repository")
    assert _modules("routes") <= set(contract["source_modules"])
    assert _modules("repository") == set(contract["forbidden_modules"])
    for direction in ("console -> API", "API -> console"):
        both = _contract(f"the console and the JSON API meet only in moderation.app ({direction})")
        listed = set(both["source_modules"]) | set(both["forbidden_modules"])
        assert _modules("routes") <= listed


def test_the_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert "0 broken" in run.stdout
