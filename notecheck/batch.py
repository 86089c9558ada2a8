"""``notecheck batch``: score a week's CSV/JSONL export, every row back, plus findings.

Streaming: rows are read, scored in chunks and written one by one, so memory stays flat
whatever the file size. Findings across notes (billed-code mismatches, time overlaps, annual
caps) come from a SQLite ledger that keeps history across runs; re-scoring a note id replaces
its ledger row instead of counting it twice.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sqlite3
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from notecheck.labels import BILLABLE_LABELS, CM_CCC, LABELS, NON_BILLABLE
from notecheck.services import default_service_rules

if TYPE_CHECKING:
    # The engine (spaCy, scikit-learn) loads when a batch runs, not when "notecheck --help"
    # builds its parser.
    from notecheck.engine import Engine
    from notecheck.result import Result

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
OUTPUT_COLUMNS = (
    "row",
    *IDENTITY_FIELDS,
    "billed_code",
    "staff_level",
    "status",
    "error",
    "label",
    "confidence",
    "needs_review",
    "billed_code_matches",
    "minutes",
    "units",
    "billable_minutes",
    "non_billable_minutes",
    "units_supported",
    "units_at_risk",
    "time_split",
    "non_billable_rules",
    "billable_rules",
    "documentation_failures",
    "model_version",
)
NEAR_CAP_SHARE = 0.9
MAX_REPORTED_ITEMS = 500  # per finding list in the report; the output file has every row
DEFAULT_CHUNK = 256
LEDGER_ENV = "NOTECHECK_LEDGER"


def default_ledger_path() -> Path:
    """Where the ledger lives unless ``--ledger`` says otherwise.

    A per-user data directory (``$NOTECHECK_LEDGER`` overrides it), never whatever folder the
    command runs from.
    """
    import platformdirs

    override = os.environ.get(LEDGER_ENV)
    if override:
        return Path(override)
    return platformdirs.user_data_path("notecheck", appauthor=False) / "ledger.sqlite"


LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    note_key        TEXT PRIMARY KEY,  -- note_id, or a hash of the row when there is none
    note_id         TEXT,
    client_id       TEXT,
    staff_id        TEXT,
    service_date    TEXT,              -- ISO yyyy-mm-dd
    year            INTEGER,
    start_min       INTEGER,           -- minutes after midnight
    end_min         INTEGER,
    minutes         REAL,              -- billed minutes counted toward caps
    billed_code     TEXT,
    predicted_label TEXT,
    cap_code        TEXT,              -- billed code, else the predicted billable label
    scored_at       TEXT
);
CREATE INDEX IF NOT EXISTS notes_client_year ON notes (client_id, year);
CREATE INDEX IF NOT EXISTS notes_client_date ON notes (client_id, service_date);
"""


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


# ------------------------------------------------------------------------------ field parsing


def parse_date(value: Any) -> date | None:
    """ISO ``2026-11-03`` or US ``11/03/2026``; None for empty; ValueError for garbage."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError("service_date is not a date (use YYYY-MM-DD or MM/DD/YYYY)")


def parse_clock(value: Any, name: str) -> int | None:
    """``14:05``, ``2:05 PM``, ``2pm`` -> minutes after midnight; None for empty."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().lower().replace(".", "")
    for fmt in ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p", "%I %p", "%I%p"):
        try:
            parsed = datetime.strptime(text, fmt)
            return parsed.hour * 60 + parsed.minute
        except ValueError:
            continue
    raise ValueError(f"{name} is not a time (use HH:MM or H:MM AM/PM)")


@dataclass
class Prepared:
    """A row ready for scoring, or the reason it is an error row."""

    row: Row
    text: str | None = None
    billed_code: str | None = None
    minutes: float | None = None
    staff_level: str | None = None
    service_date: date | None = None
    start_min: int | None = None
    end_min: int | None = None
    error: str | None = None


def prepare(row: Row) -> Prepared:
    """Validate one row's fields (never raises)."""
    if row.error:
        return Prepared(row, error=row.error)
    from notecheck.engine import InputError, validate_input

    f = row.fields
    try:
        service_date = parse_date(f.get("service_date"))
        start = parse_clock(f.get("start_time"), "start_time")
        end = parse_clock(f.get("end_time"), "end_time")
        if start is not None and end is not None and end <= start:
            raise ValueError("end_time is not after start_time")
        text, billed_code, minutes, staff_level = validate_input(
            f.get("text"), f.get("billed_code"), f.get("minutes"), f.get("staff_level")
        )
    except InputError as exc:
        return Prepared(row, error=f"{exc.code}: {exc.message}")
    except ValueError as exc:
        return Prepared(row, error=str(exc))
    if minutes is None and start is not None and end is not None:
        minutes = float(end - start)
    if end is None and start is not None and minutes is not None:
        end = start + int(round(minutes))
    return Prepared(row, text, billed_code, minutes, staff_level, service_date, start, end)


# ------------------------------------------------------------------------------ scoring


_worker_engine: Engine | None = None
_worker_model_dir: str | None = None


def _init_worker(model_dir: str | None) -> None:
    """Load the engine once per process (reused across runs with the same model)."""
    global _worker_engine, _worker_model_dir
    if _worker_engine is None or _worker_model_dir != model_dir:
        from notecheck.engine import Engine

        _worker_engine = Engine(model_dir)
        _worker_model_dir = model_dir


def _score_chunk(items: list[dict[str, Any]]) -> list[dict[str, Any] | tuple[str, str]]:
    """Worker side: score a chunk, return plain dicts (picklable, small)."""
    from notecheck.engine import CheckError

    assert _worker_engine is not None
    out: list[dict[str, Any] | tuple[str, str]] = []
    for outcome in _worker_engine.check_many(items, batch_size=len(items) or 1):
        out.append(
            (outcome.code, outcome.message) if isinstance(outcome, CheckError) else _slim(outcome)
        )
    return out


def _slim(result: Result) -> dict[str, Any]:
    """What the batch output and findings need from a Result (no note text)."""
    return {
        "label": result.label,
        "confidence": round(result.confidence, 4),
        "needs_review": result.needs_review,
        "billed_code_matches": result.billed_code_matches,
        "minutes": result.minutes,
        "units": result.units,
        "billable_minutes": result.time.billable_minutes if result.time else None,
        "non_billable_minutes": result.time.non_billable_minutes if result.time else None,
        "units_supported": result.time.units_supported if result.time else None,
        "units_at_risk": result.time.units_at_risk if result.time else None,
        "time_split": result.time.split if result.time else None,
        "non_billable_rules": sorted({e.rule_id for e in result.non_billable_flags}),
        "billable_rules": sorted(
            {e.rule_id for e in result.evidence if e.active and e.effect == "billable-cue"}
        ),
        "documentation_failures": [d.check for d in result.documentation if d.status == "fail"],
        "model_version": result.model_version,
    }


def score_stream(
    prepared: Iterable[Prepared],
    *,
    jobs: int = 1,
    chunk_size: int = DEFAULT_CHUNK,
    model_dir: str | None = None,
) -> Iterator[tuple[Prepared, dict[str, Any] | tuple[str, str] | None]]:
    """Score prepared rows in order; yields ``(prepared, outcome)`` (None for error rows)."""

    def chunks() -> Iterator[list[Prepared]]:
        chunk: list[Prepared] = []
        for item in prepared:
            chunk.append(item)
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def payload(chunk: list[Prepared]) -> list[dict[str, Any]]:
        return [
            {
                "text": p.text,
                "billed_code": p.billed_code,
                "minutes": p.minutes,
                "staff_level": p.staff_level,
            }
            for p in chunk
            if p.error is None
        ]

    def merge(chunk: list[Prepared], scored: list[Any]) -> Iterator[tuple[Prepared, Any]]:
        it = iter(scored)
        for p in chunk:
            yield (p, None) if p.error is not None else (p, next(it))

    if jobs <= 1:
        _init_worker(model_dir)
        for chunk in chunks():
            yield from merge(chunk, _score_chunk(payload(chunk)))
        return
    # A bounded window of chunks in flight keeps memory flat for any input size.
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_init_worker, initargs=(model_dir,)
    ) as pool:
        window: deque[tuple[list[Prepared], Future[list[Any]]]] = deque()
        for chunk in chunks():
            window.append((chunk, pool.submit(_score_chunk, payload(chunk))))
            if len(window) >= jobs * 2:
                done_chunk, future = window.popleft()
                yield from merge(done_chunk, future.result())
        while window:
            done_chunk, future = window.popleft()
            yield from merge(done_chunk, future.result())


# ------------------------------------------------------------------------------ ledger


def private_file(path: str | Path) -> Path:
    """Create ``path`` (empty if new) readable and writable by its owner only (0600).

    Outputs and the ledger describe clients' care: they are PHI, not for other local users.
    """
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(target, 0o600)
    return target


def open_ledger(path: str | Path) -> sqlite3.Connection:
    """Open (creating it and its folder if needed) the SQLite ledger, owner-only."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private_file(path)
    conn = sqlite3.connect(str(path))
    conn.executescript(LEDGER_SCHEMA)
    return conn


def note_key(p: Prepared) -> str:
    """The ledger key: the note id when given, else a hash of the row's identifying fields."""
    note_id = p.row.fields.get("note_id")
    if note_id not in (None, ""):
        return f"id:{note_id}"
    parts = [str(p.row.fields.get(k) or "") for k in ("client_id", "staff_id", "billed_code")]
    parts += [str(p.service_date), str(p.start_min), str(p.end_min), p.text or ""]
    return "h:" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def record(conn: sqlite3.Connection, p: Prepared, outcome: dict[str, Any]) -> None:
    """Insert or replace the note's ledger row (idempotent per note key)."""
    label = outcome["label"]
    cap_code = p.billed_code or (label if label in BILLABLE_LABELS else None)
    minutes = p.minutes if p.minutes is not None else outcome.get("minutes")
    f = p.row.fields
    conn.execute(
        "INSERT OR REPLACE INTO notes VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            note_key(p),
            _str(f.get("note_id")),
            _str(f.get("client_id")),
            _str(f.get("staff_id")),
            p.service_date.isoformat() if p.service_date else None,
            p.service_date.year if p.service_date else None,
            p.start_min,
            p.end_min,
            minutes,
            p.billed_code,
            label,
            cap_code,
            datetime.now().isoformat(timespec="seconds"),
        ),
    )


def _caps_title() -> str:
    return "; ".join(f"{' + '.join(c.codes)} {c.hours:g} h" for c in default_service_rules().caps)


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def find_overlaps(conn: sqlite3.Connection, keys: set[str]) -> list[dict[str, Any]]:
    """Overlapping windows for one client (000 Q1), and one consult billed CCC twice (Q40, Q56)."""
    if not keys:
        return []
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS run_keys (k TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM run_keys")
    conn.executemany("INSERT OR IGNORE INTO run_keys VALUES (?)", ((k,) for k in keys))
    rows = conn.execute(
        """
        SELECT a.note_id, b.note_id, a.client_id, a.service_date, a.staff_id, b.staff_id,
               a.start_min, a.end_min, b.start_min, b.end_min, a.cap_code, b.cap_code
        FROM notes a JOIN notes b
          ON a.client_id = b.client_id AND a.service_date = b.service_date
         AND a.note_key < b.note_key
         AND a.start_min < b.end_min AND b.start_min < a.end_min
        WHERE (a.note_key IN (SELECT k FROM run_keys) OR b.note_key IN (SELECT k FROM run_keys))
          AND a.client_id IS NOT NULL
          AND COALESCE(a.staff_id, '') <> COALESCE(b.staff_id, '')
        ORDER BY a.client_id, a.service_date, a.start_min
        """
    ).fetchall()
    findings = []
    for r in rows:
        both_ccc = r[10] == CM_CCC and r[11] == CM_CCC
        findings.append(
            {
                "kind": "ccc_billed_twice" if both_ccc else "time_overlap",
                "note_ids": [r[0], r[1]],
                "client_id": r[2],
                "service_date": r[3],
                "staff_ids": [r[4], r[5]],
                "windows": [_window(r[6], r[7]), _window(r[8], r[9])],
                "citation": "000_7327f7de9bed1889.txt#Q40, Q56"
                if both_ccc
                else "000_7327f7de9bed1889.txt#Q1",
                "message": (
                    "The same consultation is billed as CM-CCC by two staff; only one may bill it."
                    if both_ccc
                    else "Two staff billed the same client in overlapping time."
                ),
            }
        )
    return findings


def _window(start: int | None, end: int | None) -> str:
    def fmt(m: int | None) -> str:
        return "?" if m is None else f"{m // 60:02d}:{m % 60:02d}"

    return f"{fmt(start)}-{fmt(end)}"


def find_caps(
    conn: sqlite3.Connection, clients_years: set[tuple[str, int]]
) -> list[dict[str, Any]]:
    """Clients nearing or over the annual caps of ``rules/services.toml`` (000 Q46).

    A cap counts the hours of every service code under it: CM-TLA 40 h; CM-MH, CM-CCC and
    CM-LOCUS together 240 h.
    """
    caps = default_service_rules().caps
    findings = []
    for client_id, year in sorted(clients_years):
        totals = dict(
            conn.execute(
                "SELECT cap_code, SUM(minutes) FROM notes WHERE client_id = ? AND year = ? "
                "AND minutes IS NOT NULL GROUP BY cap_code",
                (client_id, year),
            ).fetchall()
        )
        for cap in caps:
            hours = sum((totals.get(c) or 0.0) for c in cap.codes) / 60.0
            if hours >= cap.hours * NEAR_CAP_SHARE:
                name = " + ".join(cap.codes)
                findings.append(
                    {
                        "kind": "cap_exceeded" if hours > cap.hours else "cap_near",
                        "client_id": client_id,
                        "year": year,
                        "service": name,
                        "hours": round(hours, 2),
                        "cap_hours": cap.hours,
                        "citation": ", ".join(cap.citations),
                        "message": f"{name}: {hours:.1f} of {cap.hours:g} hours used in {year}.",
                    }
                )
    return findings


# ------------------------------------------------------------------------------ summary & report


@dataclass
class Summary:
    """Counters kept while streaming (memory grows with staff count, not with rows)."""

    rows: int = 0
    ok: int = 0
    errors: int = 0
    by_label: Counter[str] = field(default_factory=Counter)
    errors_by_reason: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    needs_review: int = 0
    staff: dict[str, Counter[str]] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    mismatch_count: int = 0

    def add(self, p: Prepared, outcome: Any) -> None:
        """Count one row."""
        self.rows += 1
        staff_id = str(p.row.fields.get("staff_id") or "(none)")
        counts = self.staff.setdefault(staff_id, Counter())
        counts["notes"] += 1
        if not isinstance(outcome, dict):
            self.errors += 1
            counts["errors"] += 1
            reason = p.error if p.error else f"{outcome[0]}" if outcome else "error"
            self.errors_by_reason[reason.split(":")[0]] += 1
            return
        self.ok += 1
        label = outcome["label"]
        self.by_label[label] += 1
        counts[label] += 1
        self.needs_review += bool(outcome["needs_review"])
        counts["units_at_risk"] += outcome.get("units_at_risk") or 0
        counts["units_supported"] += outcome.get("units_supported") or 0
        counts["split_unknown"] += outcome.get("time_split") == "unknown"
        for rule_id in outcome["non_billable_rules"] + outcome["billable_rules"]:
            self.rules[rule_id] += 1
        if outcome["billed_code_matches"] is False:
            self.mismatch_count += 1
            counts["mismatches"] += 1
            if len(self.mismatches) < MAX_REPORTED_ITEMS:
                self.mismatches.append(
                    {
                        "row": p.row.number,
                        "note_id": _str(p.row.fields.get("note_id")),
                        "staff_id": staff_id,
                        "billed_code": p.billed_code,
                        "label": label,
                        "non_billable_rules": outcome["non_billable_rules"],
                    }
                )

    def to_dict(
        self, findings: dict[str, list[dict[str, Any]]], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """The machine-readable summary."""
        staff = {
            sid: {
                "notes": c["notes"],
                "errors": c["errors"],
                "mismatches": c["mismatches"],
                "non_billable": c[NON_BILLABLE],
                "share_non_billable": round(c[NON_BILLABLE] / max(c["notes"] - c["errors"], 1), 4),
                "units_supported": c["units_supported"],
                "units_at_risk": c["units_at_risk"],
                "time_split_unknown": c["split_unknown"],
                **{label: c[label] for label in LABELS},
            }
            for sid, c in sorted(self.staff.items())
        }
        return {
            **meta,
            "rows": self.rows,
            "ok": self.ok,
            "errors": self.errors,
            "errors_by_reason": dict(self.errors_by_reason),
            "needs_review": self.needs_review,
            "by_label": {label: self.by_label[label] for label in LABELS},
            "staff": staff,
            "units_at_risk": sum(c["units_at_risk"] for c in self.staff.values()),
            "top_rules": self.rules.most_common(15),
            "billed_code_mismatches": {"count": self.mismatch_count, "items": self.mismatches},
            **{k: v[:MAX_REPORTED_ITEMS] for k, v in findings.items()},
            "finding_counts": {k: len(v) for k, v in findings.items()},
        }


def _esc(value: Any) -> str:
    import html

    return html.escape("" if value is None else str(value))


def _bar_chart(by_label: dict[str, int]) -> str:
    width, bar_h, gap = 520, 26, 10
    top = max(by_label.values()) or 1
    colors = {
        "CM-MH": "#1f6feb",
        "CS-IND": "#1e8449",
        "CM-TLA": "#8e44ad",
        "CM-CCC": "#b9770e",
        "NON-BILLABLE": "#c0392b",
    }
    parts = [
        f'<svg role="img" aria-label="Notes per label" width="{width + 160}" '
        f'height="{len(by_label) * (bar_h + gap)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, n) in enumerate(by_label.items()):
        y = i * (bar_h + gap)
        w = int(width * n / top)
        parts.append(f'<text x="0" y="{y + 18}" font-size="14">{_esc(label)}</text>')
        parts.append(
            f'<rect x="120" y="{y}" width="{w}" height="{bar_h}" fill="{colors.get(label, "#555")}"/>'
        )
        parts.append(f'<text x="{126 + w}" y="{y + 18}" font-size="14">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_report(summary: dict[str, Any]) -> str:
    """A self-contained HTML report (inline CSS and SVG, no external assets)."""

    def table(headers: list[str], rows: list[list[Any]]) -> str:
        head = "".join(f"<th scope='col'>{_esc(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td colspan=99>none</td></tr>'}</tbody></table>"

    staff_rows = [
        [
            sid,
            s["notes"],
            s["errors"],
            f"{s['share_non_billable']:.0%}",
            s["mismatches"],
            s["units_at_risk"],
            s["time_split_unknown"],
        ]
        for sid, s in summary["staff"].items()
    ]
    mismatch_rows = [
        [
            m["row"],
            m["note_id"],
            m["staff_id"],
            m["billed_code"],
            m["label"],
            ", ".join(m["non_billable_rules"]),
        ]
        for m in summary["billed_code_mismatches"]["items"]
    ]
    overlap_rows = [
        [
            o["kind"],
            o["client_id"],
            o["service_date"],
            " / ".join(map(str, o["staff_ids"])),
            " / ".join(o["windows"]),
            " / ".join(map(str, o["note_ids"])),
            o["citation"],
        ]
        for o in summary["overlaps"]
    ]
    cap_rows = [
        [
            c["kind"],
            c["client_id"],
            c["year"],
            c["service"],
            c["hours"],
            c["cap_hours"],
            c["citation"],
        ]
        for c in summary["caps"]
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>notecheck batch report</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1d2329; padding: 0 1rem; }}
h1 {{ margin-bottom: .2rem; }} .meta {{ color: #52606d; }}
table {{ border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }}
th, td {{ border-bottom: 1px solid #e3e7eb; padding: .3rem .5rem; text-align: left; }}
.cards {{ display: flex; gap: 1rem; flex-wrap: wrap; }} .card {{ background: #f3f5f8; padding: .7rem 1rem; border-radius: 8px; }}
.card b {{ display: block; font-size: 1.4rem; }}
</style></head><body>
<h1>notecheck batch report</h1>
<p class="meta">{_esc(summary["input"])} · {summary["rows"]} rows · model {_esc(summary["model_version"])} · rules {_esc(summary["ruleset_version"])} · {_esc(summary["finished_at"])}</p>
<div class="cards">
<div class="card"><b>{summary["ok"]}</b>scored</div>
<div class="card"><b>{summary["errors"]}</b>error rows</div>
<div class="card"><b>{summary["by_label"].get("NON-BILLABLE", 0)}</b>non-billable</div>
<div class="card"><b>{summary["billed_code_mismatches"]["count"]}</b>billed-code mismatches</div>
<div class="card"><b>{summary["needs_review"]}</b>need review</div>
<div class="card"><b>{summary["units_at_risk"]}</b>units at risk</div>
<div class="card"><b>{summary["finding_counts"]["overlaps"]}</b>time overlaps</div>
<div class="card"><b>{summary["finding_counts"]["caps"]}</b>cap warnings</div>
</div>
<h2>Notes per label</h2>
{_bar_chart(summary["by_label"])}
{table(["label", "notes"], [[k, v] for k, v in summary["by_label"].items()])}
<h2>Per staff member</h2>
{table(["staff", "notes", "error rows", "non-billable share", "billed-code mismatches", "units at risk", "time split unknown"], staff_rows)}
<h2>Billed code vs what the note supports</h2>
{table(["row", "note id", "staff", "billed", "note supports", "non-billable flags"], mismatch_rows)}
<h2>Time overlaps (000 Q1; CCC billed twice: Q40, Q56)</h2>
{table(["kind", "client", "date", "staff", "windows", "notes", "source"], overlap_rows)}
<h2>Annual caps ({_caps_title()} per client per year)</h2>
{table(["kind", "client", "year", "service", "hours", "cap", "source"], cap_rows)}
<h2>Most-fired rules</h2>
{table(["rule", "notes"], summary["top_rules"])}
<h2>Error rows by reason</h2>
{table(["reason", "rows"], list(summary["errors_by_reason"].items()))}
<p class="meta">Under Rule 132 each claim stands alone: short same-day contacts are not combined (000 Q54). Lists are capped at {MAX_REPORTED_ITEMS} items; the output file has every row.</p>
</body></html>
"""


# ------------------------------------------------------------------------------ running


class Progress:
    """A progress bar with ETA on stderr (only when it is a terminal)."""

    def __init__(self, total: int | None, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled = total, stream, enabled
        self.start = time.monotonic()
        self.last = 0.0

    def update(self, done: int, final: bool = False) -> None:
        """Redraw at most 10 times a second."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < 0.1:
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            share = min(done / self.total, 1.0)
            eta = (self.total - done) / rate if rate > 0 else 0
            bar = "#" * int(share * 30)
            line = f"\r[{bar:<30}] {share:5.1%} {done}/{self.total} rows · {rate:,.0f}/s · ETA {int(eta // 60)}:{int(eta % 60):02d}"
        else:
            line = f"\r{done} rows · {rate:,.0f}/s"
        self.stream.write(line)
        if final:
            self.stream.write("\n")
        self.stream.flush()


def count_rows(path: Path, fmt: str) -> int:
    """Rows in the input (a cheap pass, for the progress bar's ETA)."""
    if fmt == "jsonl":
        with path.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        return max(sum(1 for _ in csv.reader(handle)) - 1, 0)


class Writer:
    """CSV or JSONL output, one line per input row."""

    def __init__(self, handle: TextIO, fmt: str) -> None:
        self.handle, self.fmt = handle, fmt
        self.csv = (
            csv.DictWriter(handle, fieldnames=OUTPUT_COLUMNS, lineterminator="\n")
            if fmt == "csv"
            else None
        )
        if self.csv:
            self.csv.writeheader()

    def write(self, p: Prepared, outcome: Any) -> None:
        """Write the row's result or its error."""
        f = p.row.fields
        row: dict[str, Any] = {
            "row": p.row.number,
            **{k: _str(f.get(k)) for k in IDENTITY_FIELDS},
            "billed_code": p.billed_code or _str(f.get("billed_code")),
            "staff_level": p.staff_level or _str(f.get("staff_level")),
        }
        if isinstance(outcome, dict):
            row.update({"status": "ok", "error": None, **outcome})
            if p.start_min is not None and p.end_min is not None:
                # The EHR's own start/stop columns satisfy the check the text alone failed.
                row["documentation_failures"] = [
                    c for c in outcome["documentation_failures"] if c != "start_stop_times"
                ]
        else:
            message = p.error or (f"{outcome[0]}: {outcome[1]}" if outcome else "error")
            row.update({"status": "error", "error": message})
        if self.csv:
            flat = {k: (";".join(v) if isinstance(v, list) else v) for k, v in row.items()}
            self.csv.writerow({k: flat.get(k) for k in OUTPUT_COLUMNS})
        else:
            self.handle.write(
                json.dumps({k: row.get(k) for k in OUTPUT_COLUMNS}, ensure_ascii=False) + "\n"
            )


def run_batch(
    input_path: str | Path,
    output: TextIO,
    *,
    fmt: str | None = None,
    out_fmt: str = "csv",
    mapping: dict[str, str] | None = None,
    jobs: int = 1,
    ledger: str | Path | None = None,
    model_dir: str | None = None,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK,
) -> dict[str, Any]:
    """Score every row of ``input_path`` into ``output``; returns the summary dict."""
    path = Path(input_path)
    fmt = fmt or detect_format(path)
    columns = {name: name for name in FIELDS}
    columns.update(mapping or {})
    rows = read_rows(path, fmt, columns)
    writer = Writer(output, out_fmt)
    summary = Summary()
    conn = open_ledger(ledger) if ledger else open_ledger(":memory:")
    run_keys: set[str] = set()
    clients_years: set[tuple[str, int]] = set()
    model_version = ruleset_version = None
    try:
        for done, (p, outcome) in enumerate(
            score_stream(
                (prepare(r) for r in rows), jobs=jobs, chunk_size=chunk_size, model_dir=model_dir
            ),
            1,
        ):
            if isinstance(outcome, tuple):
                p.error = f"{outcome[0]}: {outcome[1]}"
            writer.write(p, outcome)
            summary.add(p, outcome)
            if isinstance(outcome, dict):
                model_version = outcome["model_version"]
                record(conn, p, outcome)
                run_keys.add(note_key(p))
                client = _str(p.row.fields.get("client_id"))
                if client and p.service_date:
                    clients_years.add((client, p.service_date.year))
            if progress:
                progress.update(done)
        conn.commit()
        findings = {
            "overlaps": find_overlaps(conn, run_keys),
            "caps": find_caps(conn, clients_years),
        }
    finally:
        conn.close()
    if progress:
        progress.update(summary.rows, final=True)
    from notecheck.catalog import load_catalog

    ruleset_version = load_catalog().version
    meta = {
        "input": path.name,
        "model_version": model_version,
        "ruleset_version": ruleset_version,
        "ledger": str(ledger) if ledger else None,
        "finished_at": datetime.now().isoformat(timespec="seconds"),
    }
    return summary.to_dict(findings, meta)


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``notecheck batch`` options."""
    parser.add_argument("input", help="CSV or JSONL export (format from the extension)")
    parser.add_argument("--out", help="output file (.csv or .jsonl); default: standard output")
    parser.add_argument(
        "--out-format",
        choices=("csv", "jsonl"),
        help="output format (default: from --out, else csv)",
    )
    parser.add_argument("--format", choices=("csv", "jsonl"), help="input format override")
    parser.add_argument("--report", help="write a self-contained HTML report here")
    parser.add_argument("--summary", help="write the summary JSON here (default: next to --report)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help=f"column for a field, repeatable; fields: {', '.join(FIELDS)}",
    )
    parser.add_argument(
        "--ledger",
        help="SQLite ledger for caps/overlaps across runs (default: ledger.sqlite in the "
        f"per-user data folder, or ${LEDGER_ENV})",
    )
    parser.add_argument(
        "--no-ledger", action="store_true", help="keep no history (findings within this file only)"
    )
    parser.add_argument("--model-dir", help="model directory (default: the shipped model)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _parse_mapping(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        name, sep, column = item.partition("=")
        if not sep or name not in FIELDS or not column:
            raise ValueError(f"--map expects FIELD=COLUMN with FIELD one of {', '.join(FIELDS)}")
        mapping[name] = column
    return mapping


def run_batch_cli(args: argparse.Namespace) -> int:
    """``notecheck batch`` entry point."""
    path = Path(args.input)
    if not path.is_file():
        print(f"notecheck: no such file: {path}", file=sys.stderr)
        return 2
    if args.jobs < 1 or args.jobs > (os.cpu_count() or 1) * 4:
        print("notecheck: --jobs must be between 1 and 4x the CPU count", file=sys.stderr)
        return 2
    try:
        mapping = _parse_mapping(args.map)
        fmt = args.format or detect_format(path)
    except ValueError as exc:
        print(f"notecheck: {exc}", file=sys.stderr)
        return 2
    out_fmt = args.out_format or (
        "jsonl" if args.out and Path(args.out).suffix.lower() in (".jsonl", ".ndjson") else "csv"
    )
    show = not args.quiet and sys.stderr.isatty()
    progress = Progress(count_rows(path, fmt) if show else None, sys.stderr, show)
    out_handle: TextIO
    out_handle = (
        private_file(args.out).open("w", encoding="utf-8", newline="")
        if args.out
        else io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
    )
    try:
        summary = run_batch(
            path,
            out_handle,
            fmt=fmt,
            out_fmt=out_fmt,
            mapping=mapping,
            jobs=args.jobs,
            ledger=None if args.no_ledger else (args.ledger or default_ledger_path()),
            model_dir=args.model_dir,
            progress=progress,
        )
    except ValueError as exc:
        print(f"notecheck: {exc}", file=sys.stderr)
        return 2
    finally:
        if args.out:
            out_handle.close()
        else:
            out_handle.detach()
    summary_path = args.summary or (
        str(Path(args.report).with_suffix(".json")) if args.report else None
    )
    if summary_path:
        private_file(summary_path).write_text(
            json.dumps(summary, indent=2) + "\n", encoding="utf-8"
        )
    if args.report:
        private_file(args.report).write_text(render_report(summary), encoding="utf-8")
    print(
        f"notecheck: {summary['rows']} rows ({summary['ok']} scored, {summary['errors']} errors); "
        f"{summary['billed_code_mismatches']['count']} billed-code mismatches, "
        f"{summary['finding_counts']['overlaps']} overlaps, {summary['finding_counts']['caps']} cap warnings",
        file=sys.stderr,
    )
    ledger_used = summary.get("ledger")
    print(
        f"notecheck: ledger {ledger_used}" if ledger_used else "notecheck: no ledger kept",
        file=sys.stderr,
    )
    return 0
