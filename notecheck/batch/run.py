"""``notecheck batch``: read, score, record and write every row, then the summary and report."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from notecheck.batch.ledger import (
    LEDGER_ENV,
    default_ledger_path,
    find_caps,
    find_overlaps,
    note_key,
    open_ledger,
    private_file,
    record,
    str_or_none,
)
from notecheck.batch.prepare import Prepared, prepare
from notecheck.batch.reading import FIELDS, IDENTITY_FIELDS, count_rows, detect_format, read_rows
from notecheck.batch.report import Summary, render_report
from notecheck.batch.score import DEFAULT_CHUNK, score_stream

if TYPE_CHECKING:
    # The engine (spaCy, scikit-learn) loads when a batch runs, not when "notecheck --help"
    # builds its parser.
    pass

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
            **{k: str_or_none(f.get(k)) for k in IDENTITY_FIELDS},
            "billed_code": p.billed_code or str_or_none(f.get("billed_code")),
            "staff_level": p.staff_level or str_or_none(f.get("staff_level")),
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
                client = str_or_none(p.row.fields.get("client_id"))
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
