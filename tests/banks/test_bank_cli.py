"""`moderation banks` (issue #19): the operator's create / list / delete / import / export, on
the real database; a global bank made here matches every tenant's uploads, a tenant's bank
only that tenant's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from moderation.banks.hashing import hash_image
from moderation.cli import main
from moderation.config import get_settings
from tests.banks.support import CountingEngine, near_duplicate, run_flow, submit, tenant
from tests.conftest import Env
from tests.support import images
from tests.support.db import rows
from tests.support.processes import ApiServer


@pytest.fixture
def cli(db: str) -> Iterator[CliRunner]:
    """A runner on the suite's database (MODERATION_DATABASE_URL is the suite's)."""
    get_settings.cache_clear()
    yield CliRunner()


def _banks(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, ["banks", *args], catch_exceptions=False)


def _create(cli: CliRunner, action: str = "block", *extra: str) -> str:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    made = _banks(cli, "create", name, "--action", action, *extra)
    assert made.exit_code == 0, made.output
    return name


def _entries(db: str, bank: str) -> list[dict[str, Any]]:
    return rows(
        db,
        "SELECT e.pdq, e.label, e.action, e.md5, e.sha256, e.source FROM bank_entries e "
        "JOIN hash_banks b ON b.id = e.bank_id WHERE b.name = :n ORDER BY e.seq",
        n=bank,
    )


def _tenant_name(db: str, tenant_id: uuid.UUID) -> str:
    (row,) = rows(db, "SELECT name FROM tenants WHERE id = :i", i=tenant_id)
    return str(row["name"])


def test_import_reports_a_bad_line_imports_the_rest_and_exits_1(
    db: str, cli: CliRunner, tmp_path: Path
) -> None:
    name = _create(cli)
    a, b, c = ("a" * 64, "B" * 64, "c1" * 32)
    lines = [f"{a},O1", "# a comment", "not-a-hash,O2", "", f"pdq {b}", a, "video_md5 abc", c]
    file = tmp_path / "hashes.txt"
    file.write_text("\n".join(lines) + "\n")
    result = _banks(cli, "import", str(file), "--bank", name)
    assert result.exit_code == 1
    assert f"{file}:3: pdq: " in result.output and "not a PDQ hash" in result.output
    assert "imported 3, skipped 1 duplicates, skipped 1 rows of other signal types" in (
        result.output
    )
    assert "1 bad rows were NOT imported" in result.output
    got = _entries(db, name)
    assert [(e["pdq"], e["label"], e["action"]) for e in got] == [
        (a, "O1", "block"),
        (b.lower(), None, "block"),
        (c, None, "block"),
    ]
    assert {e["source"] for e in got} == {"import:hashes.txt"}

    again = _banks(cli, "import", str(file), "--bank", name)  # nothing new: all duplicates
    assert "imported 0, skipped 4 duplicates" in again.output and again.exit_code == 1
    assert len(_entries(db, name)) == 3
    events = rows(
        db,
        "SELECT data FROM audit_events WHERE event = 'bank.imported' AND data->>'file' = :f "
        "AND subject_id IN (SELECT id::text FROM hash_banks WHERE name = :n)",
        f="hashes.txt",
        n=name,
    )
    assert sorted(e["data"]["imported"] for e in events) == [0, 3]


def test_a_clean_import_exits_0_and_an_unknown_bank_is_refused(
    db: str, cli: CliRunner, tmp_path: Path
) -> None:
    name = _create(cli, "review", "--distance", "20")
    file = tmp_path / "dataset.csv"
    file.write_text(
        "signal_type,signal_str,collab,category,tags\n"
        f"pdq,{'d' * 64},Sample,POSITIVE_CLASS,O3\n"
        f"video_md5,{'e' * 32},Sample,POSITIVE_CLASS,\n"
    )
    result = _banks(cli, "import", str(file), "--bank", name)
    assert result.exit_code == 0, result.output
    assert [(e["pdq"], e["label"], e["action"]) for e in _entries(db, name)] == [
        ("d" * 64, "O3", "review")
    ]
    missing = _banks(cli, "import", str(file), "--bank", "no-such-bank")
    assert missing.exit_code != 0 and "no global bank named 'no-such-bank'" in missing.output
    bad = _banks(cli, "create", "x", "--action", "block", "--distance", "99")
    assert bad.exit_code != 0 and "distance" in bad.output


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_round_trips_through_import(
    db: str, cli: CliRunner, tmp_path: Path, fmt: str
) -> None:
    source = _create(cli)
    given = tmp_path / "in.jsonl"
    entries = [
        {"pdq": "1" * 64, "label": "O1", "md5": "2" * 32, "sha256": "3" * 64},
        {"pdq": "4" * 64, "action": "review"},
        {"pdq": "5" * 64, "label": 'with, a comma "and quotes"'},
    ]
    given.write_text("".join(json.dumps(e) + "\n" for e in entries))
    assert _banks(cli, "import", str(given), "--bank", source).exit_code == 0
    out = tmp_path / f"out.{fmt}"
    exported = _banks(cli, "export", "--bank", source, "--format", fmt, str(out))
    assert exported.exit_code == 0 and "exported 3 entries" in exported.output
    target = _create(cli, "review")
    assert _banks(cli, "import", str(out), "--bank", target).exit_code == 0

    def kept(bank: str) -> list[tuple[Any, ...]]:
        return [
            (e["pdq"], e["label"], e["action"], e["md5"], e["sha256"]) for e in _entries(db, bank)
        ]

    assert kept(target) == kept(source)
    assert kept(source)[1][2] == "review" and kept(source)[0][2] == "block"
    txt = _banks(cli, "export", "--bank", source, "--format", "txt")
    assert txt.stdout.splitlines() == [f"pdq {e['pdq']}" for e in entries]


def test_a_global_bank_matches_every_tenant_and_a_tenants_bank_only_its_own(
    env: Env, db: str, cli: CliRunner, api: ApiServer, tmp_path: Path, checkpoints: dict[str, Path]
) -> None:
    from moderation.inference import load_engine

    engine = CountingEngine(load_engine(str(checkpoints["llava"]), warm_up=False))
    (key, tenant_id), (other_key, _) = tenant(db), tenant(db)
    owner = _tenant_name(db, tenant_id)
    known, own = images.photo(seed=1991), images.photo(seed=1992)
    everyone = _create(cli)  # global: no --tenant
    mine = _create(cli, "review", "--tenant", owner)
    try:
        for bank, picture, extra in ((everyone, known, ()), (mine, own, ("--tenant", owner))):
            file = tmp_path / f"{bank}.txt"
            file.write_text(hash_image(images.encode(picture, "PNG")).pdq + ",O1\n")
            assert _banks(cli, "import", str(file), "--bank", bank, *extra).exit_code == 0
        listed = _banks(cli, "list").output
        assert everyone in listed and mine not in listed
        assert mine in _banks(cli, "list", "--tenant", owner).output
        with api.client(key) as client, api.client(other_key) as other:
            ids = [
                submit(client, near_duplicate(known)),
                submit(client, near_duplicate(own)),
                submit(other, near_duplicate(known)),
                submit(other, near_duplicate(own)),
            ]
            report = run_flow(env.data_dir, db, engine, ids)
            assert sorted(report.hash_matched) == sorted(ids[:3]) and report.decided == ids[3:]
            actions = [client.get(f"/v1/moderations/{i}").json()["decision"] for i in ids[:2]]
            assert [(d["action"], d["match"]["bank_name"]) for d in actions] == [
                ("block", everyone),
                ("review", mine),
            ]
    finally:
        assert _banks(cli, "delete", everyone, "--yes").exit_code == 0  # other tests' uploads
    assert not rows(db, "SELECT 1 FROM hash_banks WHERE name = :n", n=everyone)
    gone = _banks(cli, "delete", mine, "--yes")  # a tenant's bank needs its --tenant
    assert gone.exit_code != 0 and "no global bank" in gone.output
