"""Bank files in and out, in the shapes ThreatExchange and HMA exchange PDQ hashes in.

Reading (the shape is told by the first line that is not blank or a ``#`` comment):

- **JSON Lines**: one object a line, HMA's signal body ``{"pdq": HEX}`` (``POST
  /c/bank/NAME/signal``) with our API's optional ``label``, ``action``, ``md5``, ``sha256``.
- **CSV with a header**: ``threatexchange dataset -P --csv``'s ``signal_type,signal_str,...``
  (``signal_value``, ``pdq`` or ``hash`` name the hash column too; the label is ``label``, else
  ``tags``); rows of another ``signal_type`` are skipped, and counted.
- **Plain lines**: ``HEX`` or ``HEX,LABEL``, or ``pdq HEX``: the ThreatExchange file
  exchange's line (signal type, a space, the signal).

Every row is validated by :class:`moderation.banks.schemas.HashesIn`, the API's own model.
Writing: ``csv`` (the header shape above), ``txt`` (``pdq HEX`` lines, which ThreatExchange's
file exchange reads) or ``jsonl``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import IO, Any

from pydantic import ValidationError

from moderation.banks.models import BankEntry
from moderation.banks.schemas import HashesIn
from moderation.banks.service import NewEntry

SIGNAL_TYPE = "pdq"  # ThreatExchange's name of the PDQ signal type
VALUE_COLUMNS = ("signal_str", "signal_value", "pdq", "hash")
LABEL_COLUMNS = ("label", "tags")
CSV_HEADER = ("signal_type", "signal_str", "label", "action", "md5", "sha256")
FORMATS = ("csv", "txt", "jsonl")


@dataclass(frozen=True)
class ImportRow:
    """One line of a bank file: an entry, a problem, or (neither) a row of another signal
    type."""

    line: int
    entry: NewEntry | None = None
    problem: str | None = None


def read_rows(lines: Iterable[str]) -> Iterator[ImportRow]:
    """The rows of a bank file, with their line numbers (1-based), one line at a time."""
    numbered = _meaningful(enumerate(lines, 1))
    first = next(numbered, None)
    if first is None:
        return
    number, text = first[0], first[1].lstrip("\ufeff")
    if text.startswith("{"):
        yield from _json_rows(chain([(number, text)], numbered))
        return
    header = [c.strip().lower() for c in _cells(text)]
    if any(c in VALUE_COLUMNS or c == "signal_type" for c in header):
        yield from _csv_rows(header, number, numbered)
    else:
        yield from _plain_rows(chain([(number, text)], numbered))


def _cells(line: str) -> list[str]:
    return next(csv.reader([line]), [])


def _meaningful(numbered: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    for number, line in numbered:
        text = line.strip()
        if text and not text.startswith("#"):
            yield number, text


def _json_rows(numbered: Iterable[tuple[int, str]]) -> Iterator[ImportRow]:
    for number, text in _meaningful(numbered):
        try:
            fields = json.loads(text)
        except ValueError:
            yield ImportRow(number, problem="not a JSON object")
            continue
        if not isinstance(fields, dict):
            yield ImportRow(number, problem="not a JSON object")
            continue
        yield _validated(number, {k: v for k, v in fields.items() if v is not None})


def _csv_rows(
    header: list[str], header_line: int, numbered: Iterable[tuple[int, str]]
) -> Iterator[ImportRow]:
    value = next((c for c in VALUE_COLUMNS if c in header), None)
    label = next((c for c in LABEL_COLUMNS if c in header), None)
    for number, text in _meaningful(numbered):
        cells = _cells(text)
        if value is None:
            yield ImportRow(number, problem=f"line {header_line}: the header has no hash column")
            continue
        if len(cells) > len(header):
            yield ImportRow(number, problem=f"{len(cells)} cells, the header has {len(header)}")
            continue
        row = dict(zip(header, [c.strip() for c in cells], strict=False))
        if row.get("signal_type", SIGNAL_TYPE).lower() != SIGNAL_TYPE:
            yield ImportRow(number)  # another signal type (a ThreatExchange dataset mixes them)
            continue
        fields = {k: row.get(k, "") for k in ("action", "md5", "sha256")}
        fields |= {"pdq": row.get(value, ""), "label": row.get(label, "") if label else ""}
        yield _validated(number, {k: v for k, v in fields.items() if v})


def _plain_rows(numbered: Iterable[tuple[int, str]]) -> Iterator[ImportRow]:
    for number, text in _meaningful(numbered):
        cells = [c.strip() for c in _cells(text)]
        if len(cells) > 2:
            yield ImportRow(number, problem="expected HASH or HASH,LABEL")
            continue
        kind, _, signal = cells[0].rpartition(" ")
        if kind and kind.strip().lower() != SIGNAL_TYPE:
            yield ImportRow(number)
            continue
        fields = {"pdq": signal, "label": cells[1] if len(cells) == 2 else ""}
        yield _validated(number, {k: v for k, v in fields.items() if v})


def _validated(number: int, fields: dict[str, Any]) -> ImportRow:
    try:
        body = HashesIn.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "row"
        return ImportRow(number, problem=f"{where}: {first['msg']}")
    return ImportRow(number, entry=body.entry())


def write_rows(out: IO[str], entries: Iterable[BankEntry], fmt: str) -> int:
    """Write the entries to ``out`` in the format ``fmt`` (see :data:`FORMATS`); how many."""
    written = 0
    writer = csv.writer(out, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(CSV_HEADER)
    for e in entries:
        if fmt == "csv":
            writer.writerow(
                (SIGNAL_TYPE, e.pdq or "", e.label or "", e.action, e.md5 or "", e.sha256 or "")
            )
        elif fmt == "txt":
            out.write(f"{SIGNAL_TYPE} {e.pdq}\n")
        else:
            fields = {"pdq": e.pdq, "label": e.label, "action": e.action}
            fields |= {"md5": e.md5, "sha256": e.sha256}
            out.write(json.dumps({k: v for k, v in fields.items() if v is not None}) + "\n")
        written += 1
    return written
