"""Reading a supervisor's export: every row kept, or turned into an error row, never dropped.

Formats: CSV (delimiter sniffed: comma, semicolon, tab or pipe), TSV, JSONL, a JSON array of
objects, and Excel ``.xlsx`` (first sheet, or ``sheet``). Text files are read as UTF-8 (with or
without a BOM); a row whose bytes are not UTF-8 is read as Windows-1252, which is what Excel
writes on Windows, and counted. Column names match case-, space- and punctuation-insensitively,
with the aliases EHR exports use ("Progress Note", "Service Code", "DOS", "Duration (min)").
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

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
    "modifier",
    "text",
)
IDENTITY_FIELDS = FIELDS[:6]  # note_id … end_time: echoed back so rows can be matched up
FORMATS = ("csv", "tsv", "jsonl", "json", "xlsx")

# Column names EHR and spreadsheet exports use for each field, compared as _key(name).
ALIASES: dict[str, tuple[str, ...]] = {
    "note_id": ("note id", "id", "document id", "encounter id", "service id", "progress note id"),
    "client_id": ("client id", "client", "client number", "patient id", "mrn", "member id",
                  "consumer id", "recipient id", "individual id"),
    "staff_id": ("staff id", "staff", "staff name", "clinician", "rendering provider", "author",
                 "writer", "employee", "employee id", "provider"),
    "service_date": ("service date", "dos", "date of service", "date", "visit date",
                     "contact date"),
    "start_time": ("start time", "start", "time in", "begin time"),
    "end_time": ("end time", "end", "stop time", "stop", "time out"),
    "minutes": ("minutes", "duration", "duration (min)", "duration min", "duration minutes",
                "total minutes", "mins", "billed minutes"),
    "billed_code": ("billed code", "service code", "billing code", "procedure code", "code",
                    "service"),
    "staff_level": ("staff level", "credential", "staff credential", "level"),
    "modifier": ("modifier", "service modifier", "procedure modifier", "mod", "modifiers"),
    "text": ("text", "note", "note text", "progress note", "narrative", "note body", "body",
             "documentation"),
}  # fmt: skip
# The bytes Windows-1252 leaves undefined: a row holding one is neither UTF-8 nor cp1252.
_CP1252_UNDEFINED = set(b"\x81\x8d\x8f\x90\x9d")


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


class ReadPosition:
    """How far into its file a reader is, in bytes (for the progress bar: no counting pass)."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.rows = 0  # rows handed out so far

    def estimated_rows(self, total_bytes: int) -> float | None:
        """Rows in the whole file, extrapolated from the rows and bytes read so far."""
        if self.handle is not None and self.handle.closed:
            return float(self.rows) or None  # read to the end: the count is exact
        read = self.bytes_read()
        if not read or not self.rows:
            return None
        return self.rows * total_bytes / read

    def bytes_read(self) -> int | None:
        """Bytes consumed so far (to the reader's buffer), or None before the file opens."""
        if self.handle is None or self.handle.closed:
            return None
        return os.lseek(self.handle.fileno(), 0, os.SEEK_CUR)


@dataclass
class Row:
    """One input row: its 1-based position, mapped fields, or why it could not be read."""

    number: int
    fields: dict[str, Any]
    error: str | None = None
    windows_1252: bool = False  # its bytes were not UTF-8 and were read as Windows-1252


def resolve_columns(header: Iterable[str], mapping: dict[str, str]) -> dict[str, str | None]:
    """Field -> the input column that holds it (None: absent).

    ``mapping`` (from ``--map``) wins and must name a column that exists; other fields are
    found by their own name or an alias. Raises ``ValueError`` when a mapped column is missing
    or no column holds the note text.
    """
    by_key: dict[str, str] = {}
    for column in header:
        by_key.setdefault(_key(str(column)), str(column))
    shown = ", ".join(by_key.values()) or "none"
    columns: dict[str, str | None] = {}
    for name in FIELDS:
        if name in mapping:
            found = by_key.get(_key(mapping[name]))
            if found is None:
                raise ValueError(
                    f"--map {name}={mapping[name]}: the input has no such column (columns: {shown})"
                )
            columns[name] = found
            continue
        columns[name] = next(
            (by_key[k] for k in (_key(name), *map(_key, ALIASES[name])) if k in by_key), None
        )
    taken = [c for c in columns.values() if c is not None]
    for name in FIELDS:
        # An alias ("service") must not take a column another field was mapped to.
        held = columns[name]
        if held is not None and name not in mapping and taken.count(held) > 1:
            columns[name] = None
            taken.remove(held)
    if columns["text"] is None:
        raise ValueError(f"input has no note text column (columns: {shown}); use --map text=COLUMN")
    return columns


def _fields(record: dict[str, Any], columns: dict[str, str | None]) -> dict[str, Any]:
    return {name: (record.get(col) if col else None) for name, col in columns.items()}


def _has_surrogate(value: Any) -> bool:
    """A lone surrogate (an escaped half pair in JSON) cannot be written out as UTF-8."""
    return isinstance(value, str) and any("\ud800" <= ch <= "\udfff" for ch in value)


def _json_row(number: int, record: dict[str, Any], columns: dict[str, str | None]) -> Row:
    fields = _fields(record, columns)
    if any(_has_surrogate(v) for v in fields.values()):
        return Row(
            number,
            {k: v for k, v in fields.items() if not _has_surrogate(v)},
            "undecodable: a field holds a lone surrogate (an invalid \\ud800-\\udfff escape)",
        )
    return Row(number, fields)


def _swallowed_rows(cells: list[str], delimiter: str, width: int) -> int:
    """Lines inside a cell that look like rows of their own: an unclosed quote upstream.

    A line counts when it has exactly the delimiters of a row and starts with an id-like
    token ("n2,2026-11-02,..."); narrow files (under three columns) are not judged.
    """
    if width < 3:
        return 0
    starts_like_a_row = re.compile(rf"^[\w-]+{re.escape(delimiter)}")
    return sum(
        1
        for cell in cells
        if "\n" in cell
        for line in cell.splitlines()[1:]
        if line.count(delimiter) == width - 1 and starts_like_a_row.match(line)
    )


def _has_undecodable(value: Any) -> bool:
    return isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value)


def _as_windows_1252(value: str) -> str | None:
    """A value read as UTF-8 with surrogate escapes, re-read as Windows-1252 (None: cannot)."""
    raw = value.encode("utf-8", "surrogateescape")
    if _CP1252_UNDEFINED & set(raw):
        return None
    return raw.decode("cp1252")


def _delimiter(header_line: str) -> str:
    """The delimiter the header line uses most (comma, semicolon, tab or pipe)."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(
    path: Path,
    mapping: dict[str, str],
    encoding: str | None = None,
    delimiter: str | None = None,
    position: ReadPosition | None = None,
) -> Iterator[Row]:
    """Stream CSV/TSV rows (BOM, quoted newlines, CRLF, long fields handled)."""
    # A long note is an error row of its own (text_too_long), not a reason to stop the run.
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    with path.open(
        encoding=encoding or "utf-8-sig", errors="surrogateescape", newline=""
    ) as handle:
        if position is not None:
            position.handle = handle
        first = handle.readline()
        handle.seek(0)
        if encoding is None and first.startswith("\ufeff"):
            handle.read(1)
        delimiter = delimiter or _delimiter(first)
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, [])
        header = [_as_windows_1252(h) or h if _has_undecodable(h) else h for h in header]
        columns = resolve_columns(header, mapping)
        width = len(header)
        text_at = header.index(str(columns["text"]))
        number = 0
        for cells in reader:
            if not cells:
                continue  # a blank line between rows is not a row
            number += 1
            windows = False
            if encoding is None and any(_has_undecodable(c) for c in cells):
                repaired = [_as_windows_1252(c) if _has_undecodable(c) else c for c in cells]
                if all(c is not None for c in repaired):
                    cells, windows = [c for c in repaired if c is not None], True
            record = dict(zip(header, cells, strict=False))
            fields = _fields(record, columns)
            swallowed = _swallowed_rows(cells, delimiter, width)
            if swallowed:
                yield Row(
                    number,
                    fields,
                    f"unbalanced_quote: this row holds {swallowed} line(s) that look like rows of "
                    "their own — a quote left open? Fix the export and score those rows again",
                )
            elif len(cells) > width:
                yield Row(number, fields, "extra_cells: row has more cells than the header")
            elif len(cells) <= text_at:
                # Short rows are fine when only trailing columns are left off; not the text.
                yield Row(
                    number,
                    fields,
                    f"missing_cells: row has {len(cells)} cells, the header {width}; the note "
                    f"text (column {text_at + 1}, {columns['text']!r}) is not in it",
                )
            elif any(_has_undecodable(c) for c in cells):
                yield Row(
                    number,
                    {k: v for k, v in fields.items() if not _has_undecodable(v)},
                    "undecodable: row contains bytes that are neither UTF-8 nor Windows-1252"
                    if encoding is None
                    else f"undecodable: row contains bytes that are not {encoding}",
                )
            else:
                yield Row(number, fields, windows_1252=windows)


def read_jsonl(
    path: Path, mapping: dict[str, str], position: ReadPosition | None = None
) -> Iterator[Row]:
    """Stream JSONL rows; a line that is not a JSON object becomes an error row."""
    columns: dict[str, str | None] | None = None
    with path.open("rb") as handle:
        if position is not None:
            position.handle = handle
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
                yield Row(number, {}, "undecodable: line contains bytes that are not UTF-8")
                continue
            except json.JSONDecodeError:
                yield Row(number, {}, "invalid_json: line is not valid JSON")
                continue
            if not isinstance(record, dict):
                yield Row(number, {}, "not_an_object: line is not a JSON object")
                continue
            if "resourceType" in record:
                yield _fhir_row(number, record)  # FHIR bulk-export NDJSON
                continue
            if columns is None:
                # The first object's keys name the columns (exports write every key each line).
                columns = resolve_columns(record, mapping)
            yield _json_row(number, record, columns)


def _fhir_row(number: int, resource: dict[str, Any]) -> Row:
    """A FHIR DocumentReference line as a row: its note, id, subject, author, date, event code."""
    from notecheck.fhir import FhirError, read_document_reference

    try:
        note = read_document_reference(resource)
    except FhirError as exc:
        return Row(number, {"note_id": str_field(resource.get("id"))}, f"{exc.code}: {exc.message}")
    return Row(
        number,
        {
            "note_id": note.note_id,
            "client_id": note.client_id,
            "staff_id": note.staff_id,
            "service_date": note.service_date,
            "billed_code": note.event_codes[0] if note.event_codes else None,
            "text": note.text,
        },
    )


def str_field(value: Any) -> str | None:
    """A JSON value as an identifying field: strings only."""
    return value if isinstance(value, str) else None


def read_json_array(path: Path, mapping: dict[str, str]) -> Iterator[Row]:
    """A JSON array of objects (loaded whole: such exports are small); one row per element."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name} is not a UTF-8 JSON array or JSONL file") from exc
    if not isinstance(data, list):
        raise ValueError(f"{path.name} holds one JSON value, not an array of notes")
    keys: dict[str, None] = {}
    for item in data:
        if isinstance(item, dict):
            keys.update(dict.fromkeys(item))
    columns = resolve_columns(keys, mapping)
    for number, item in enumerate(data, 1):
        if isinstance(item, dict):
            yield _json_row(number, item, columns)
        else:
            yield Row(number, {}, "not_an_object: element is not a JSON object")


def _cell(value: Any) -> Any:
    """An Excel cell as the text a CSV export would hold."""
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


def read_xlsx(path: Path, mapping: dict[str, str], sheet: str | None = None) -> Iterator[Row]:
    """Stream the rows of an Excel workbook's first sheet (or ``sheet``), header first."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - zip, XML and openpyxl errors share no base
        raise ValueError(f"{path.name} is not a readable .xlsx workbook") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise ValueError(f"no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
        rows = (book[sheet] if sheet else book.worksheets[0]).iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(rows, ())]
        columns = resolve_columns(header, mapping)
        for number, values in enumerate(rows, 1):
            cells = [_cell(v) for v in values]
            if all(c is None or str(c).strip() == "" for c in cells):
                continue  # Excel's trailing empty rows
            record = dict(zip(header, cells, strict=False))
            yield Row(number, _fields(record, columns))
    finally:
        book.close()


def detect_format(path: Path) -> str:
    """The input format from the file name (and, for ``.json``, its first character)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".tsv" or suffix == ".tab":
        return "tsv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        with path.open("rb") as handle:
            start = handle.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
        return "json" if start.startswith(b"[") else "jsonl"
    if suffix == ".xlsx":
        return "xlsx"
    raise ValueError(f"cannot tell the format of {path.name}; pass --format ({', '.join(FORMATS)})")


def read_rows(
    path: Path,
    fmt: str,
    mapping: dict[str, str],
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    position: ReadPosition | None = None,
) -> Iterator[Row]:
    """Rows of ``path`` in ``fmt`` (one of ``FORMATS``); ``position`` follows a text file."""
    if fmt in ("csv", "tsv"):
        rows = read_csv(path, mapping, encoding, "\t" if fmt == "tsv" else None, position)
    elif fmt == "json":
        rows = read_json_array(path, mapping)
    elif fmt == "xlsx":
        rows = read_xlsx(path, mapping, sheet)
    else:
        rows = read_jsonl(path, mapping, position)
    return rows if position is None else _counted(rows, position)


def _counted(rows: Iterator[Row], position: ReadPosition) -> Iterator[Row]:
    for row in rows:
        position.rows += 1
        yield row
