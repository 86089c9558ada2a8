"""Reading a supervisor's export: CSV or JSONL rows, each kept or turned into an error row."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # The engine (spaCy, scikit-learn) loads when a batch runs, not when "notecheck --help"
    # builds its parser.
    pass

FIELDS = (
    "note_id",
    "client_id",
    "staff_id",
    "service_date",
    "start_time",
    "end_time",
    "minutes",
    "billed_code",
    "staff_level",
    "text",
)
IDENTITY_FIELDS = FIELDS[:6]  # note_id … end_time: echoed back so rows can be matched up


# ------------------------------------------------------------------------------ reading rows


@dataclass
class Row:
    """One input row: its 1-based position, mapped fields, or why it could not be read."""

    number: int
    fields: dict[str, Any]
    error: str | None = None


def _has_undecodable(value: Any) -> bool:
    return isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value)


def read_csv(path: Path, mapping: dict[str, str]) -> Iterator[Row]:
    """Stream CSV rows (BOM, quoted newlines and CRLF handled); bad bytes make an error row."""
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        if mapping["text"] not in header:
            raise ValueError(
                f"input has no '{mapping['text']}' column (columns: {', '.join(header)}); "
                "use --map text=COLUMN"
            )
        for number, record in enumerate(reader, 1):
            fields = {name: record.get(column) for name, column in mapping.items()}
            if None in record:  # more cells than header columns
                yield Row(number, fields, "row has more cells than the header")
            elif any(_has_undecodable(v) for v in record.values()):
                yield Row(
                    number,
                    {k: v for k, v in fields.items() if not _has_undecodable(v)},
                    "row contains bytes that are not UTF-8",
                )
            else:
                yield Row(number, fields)


def read_jsonl(path: Path, mapping: dict[str, str]) -> Iterator[Row]:
    """Stream JSONL rows; a line that is not a JSON object becomes an error row."""
    with path.open("rb") as handle:
        number = 0
        for raw in handle:
            if not raw.strip():
                continue
            number += 1
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                record = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield Row(number, {}, "line contains bytes that are not UTF-8")
                continue
            except json.JSONDecodeError:
                yield Row(number, {}, "line is not valid JSON")
                continue
            if not isinstance(record, dict):
                yield Row(number, {}, "line is not a JSON object")
                continue
            yield Row(number, {name: record.get(column) for name, column in mapping.items()})


def read_rows(path: Path, fmt: str, mapping: dict[str, str]) -> Iterator[Row]:
    """Rows of ``path`` in ``fmt`` ('csv' or 'jsonl')."""
    return read_csv(path, mapping) if fmt == "csv" else read_jsonl(path, mapping)


def detect_format(path: Path) -> str:
    """'csv' or 'jsonl' from the file name."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise ValueError(f"cannot tell the format of {path.name}; pass --format csv or jsonl")


def count_rows(path: Path, fmt: str) -> int:
    """Rows in the input (a cheap pass, for the progress bar's ETA)."""
    if fmt == "jsonl":
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
