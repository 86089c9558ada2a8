"""``notecheck batch``: read, score, record and write every row, then the summary and report."""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from notecheck.batch.findings import (
    find_caps,
    find_limits,
    find_overlaps,
    find_repeated_claims,
    finding_columns,
    limit_columns,
)
from notecheck.batch.ledger import (
    default_ledger_path,
    note_key,
    open_ledger,
    private_file,
    record,
    str_or_none,
    week_trend,
)
from notecheck.batch.prepare import Prepared, prepare
from notecheck.batch.reading import (
    FIELDS,
    IDENTITY_FIELDS,
    ReadPosition,
    detect_format,
    read_rows,
)
from notecheck.batch.report import Summary, render_report
from notecheck.batch.score import DEFAULT_CHUNK, Failed, Outcome, Scored, score_stream
from notecheck.profiles import load_profile
from notecheck.services import services_for

OUTPUT_COLUMNS = (
    "row",
    *IDENTITY_FIELDS,
    "billed_code",
    "staff_level",
    "modifier",
    "status",
    "error",
    "duplicate_of",
    "same_claim_as",
    "overlaps_with",
    "cap_status",
    "limit_status",
    "label",
    "confidence",
    "decided_by",
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


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} kB"


class Progress:
    """A progress bar with ETA on stderr (only when it is a terminal).

    The share done is rows scored of the rows the file holds, estimated from the rows and
    bytes the reader has consumed so far, so nothing reads the input twice to count its rows;
    without a size (a workbook, a JSON array) it shows rows and rate.
    """

    def __init__(
        self,
        total_bytes: int | None,
        stream: TextIO,
        enabled: bool,
        position: ReadPosition | None = None,
    ) -> None:
        self.total, self.stream, self.enabled = total_bytes, stream, enabled
        self.position = position
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
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        # Scoring trails reading by a chunk: the share is rows scored of the rows the file
        # holds, extrapolated from the rows and bytes read so far.
        expected = (
            self.position.estimated_rows(self.total) if self.position and self.total else None
        )
        if final:
            expected = done
        if self.total and expected:
            share = min(done / expected, 1.0)
            eta = elapsed * (1 - share) / share if share > 0 else 0
            bar = "#" * int(share * 30)
            line = (
                f"\r[{bar:<30}] {share:5.1%} of {_size(self.total)} · {done:,} rows · "
                f"{rate:,.0f}/s · ETA {int(eta // 60)}:{int(eta % 60):02d}"
            )
        else:
            line = f"\r{done:,} rows · {rate:,.0f}/s"
        self.stream.write(line)
        if final:
            self.stream.write("\n")
        self.stream.flush()


# A cell that starts with one of these is a formula to a spreadsheet ("=HYPERLINK(...)" in a
# client id); a leading apostrophe makes it text (OWASP CSV injection guidance).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` safe to put in a spreadsheet cell."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def output_row(p: Prepared, outcome: Outcome, duplicate_of: int | None = None) -> dict[str, Any]:
    """One input row's output (``duplicate_of``: the earlier row with its note id)."""
    f = p.row.fields
    row: dict[str, Any] = {
        "row": p.row.number,
        "duplicate_of": duplicate_of,
        **{k: str_or_none(f.get(k)) for k in IDENTITY_FIELDS},
        "billed_code": p.billed_code or str_or_none(f.get("billed_code")),
        "staff_level": p.staff_level or str_or_none(f.get("staff_level")),
    }
    if isinstance(outcome, Failed):
        row.update({"status": "error", "error": outcome.reason})
        return row
    row.update({"status": "ok", "error": None, **outcome.columns()})
    if p.start_min is not None and p.end_min is not None:
        # The EHR's own start/stop columns satisfy the check the text alone failed.
        row["documentation_failures"] = [
            c for c in outcome.documentation_failures if c != "start_stop_times"
        ]
    return row


class Writer:
    """CSV, JSONL or Excel output, one line per input row; Excel gets a sheet of findings too."""

    def __init__(self, handle: Any, fmt: str) -> None:
        self.handle, self.fmt = handle, fmt
        self.rows = 0
        self.csv = None
        if fmt == "csv":
            # CRLF line ends, so a CR or LF inside a value is quoted, as Excel expects.
            self.csv = csv.DictWriter(handle, fieldnames=OUTPUT_COLUMNS, lineterminator="\r\n")
            self.csv.writeheader()
        elif fmt == "xlsx":
            from openpyxl import Workbook

            self.book = Workbook(write_only=True)  # streams rows to disk: memory stays flat
            self.sheet = self.book.create_sheet("notes")
            self.sheet.freeze_panes = "A2"
            self.sheet.append(list(OUTPUT_COLUMNS))

    def write(self, row: dict[str, Any]) -> None:
        """Write one output row."""
        self.rows += 1
        if self.fmt == "jsonl":
            self.handle.write(
                json.dumps({k: row.get(k) for k in OUTPUT_COLUMNS}, ensure_ascii=False) + "\n"
            )
            return
        flat = {k: (";".join(v) if isinstance(v, list) else v) for k, v in row.items()}
        if self.csv:
            self.csv.writerow({k: neutralise(flat.get(k)) for k in OUTPUT_COLUMNS})
        else:
            self.sheet.append([neutralise(flat.get(k)) for k in OUTPUT_COLUMNS])

    def finish(self, findings: dict[str, list[dict[str, Any]]]) -> None:
        """Close the output: an Excel file gets its filters and a sheet of findings."""
        if self.fmt != "xlsx":
            return
        from openpyxl.utils import get_column_letter

        self.sheet.auto_filter.ref = f"A1:{get_column_letter(len(OUTPUT_COLUMNS))}{self.rows + 1}"
        sheet = self.book.create_sheet("findings")
        sheet.freeze_panes = "A2"
        sheet.append(["kind", "client", "date or year", "staff", "notes", "detail", "source"])
        for o in findings["overlaps"]:
            sheet.append(
                [neutralise(v) for v in (
                    o["kind"], o["client_id"], o["service_date"],
                    " / ".join(map(str, o["staff_ids"])), " / ".join(map(str, o["note_ids"])),
                    o["message"], o["citation"],
                )]
            )  # fmt: skip
        for c in findings["caps"]:
            sheet.append(
                [neutralise(v) for v in (
                    c["kind"], c["client_id"], c["year"], None, None, c["message"], c["citation"],
                )]
            )  # fmt: skip
        for c in findings["limits"]:
            sheet.append(
                [neutralise(v) for v in (
                    c["kind"], c["client_id"], c["period"], None, None, c["message"], c["citation"],
                )]
            )  # fmt: skip
        self.book.save(self.handle)


class RowSpool:
    """Output rows kept on disk until the findings across rows are known.

    Overlaps and caps need every row, so rows wait in an owner-only temporary file (JSON lines,
    no note text) and are written with their findings at the end: memory stays flat.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # mode 0600, unlinked

    def add(
        self,
        row: dict[str, Any],
        key: str | None,
        client_year: str | None,
        client_day: str | None = None,
    ) -> None:
        """Keep ``row`` with its ledger key, client-year and client-day, for findings later."""
        self._file.write(json.dumps([key, client_year, client_day, row], ensure_ascii=False) + "\n")

    def rows(self) -> Iterator[tuple[str | None, str | None, str | None, dict[str, Any]]]:
        """The kept rows, in order."""
        self._file.seek(0)
        for line in self._file:
            key, client_year, client_day, row = json.loads(line)
            yield key, client_year, client_day, row

    def close(self) -> None:
        """Delete the spool."""
        self._file.close()


def run_batch(
    input_path: str | Path,
    output: TextIO,
    *,
    fmt: str | None = None,
    out_fmt: str = "csv",
    mapping: dict[str, str] | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    jobs: int = 1,
    ledger: str | Path | None = None,
    model_dir: str | None = None,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    profile: str | None = None,
) -> dict[str, Any]:
    """Score every row of ``input_path`` into ``output`` under ``profile``; returns the summary."""
    chosen = load_profile(profile)
    services = services_for(chosen)
    path = Path(input_path)
    fmt = fmt or detect_format(path)
    rows = read_rows(
        path,
        fmt,
        mapping or {},
        encoding=encoding,
        sheet=sheet,
        position=progress.position if progress else None,
    )
    first = next(rows, None)  # reads the header: a missing column fails before any output
    if first is not None:
        rows = itertools.chain([first], rows)
    writer = Writer(output, out_fmt)
    spool = RowSpool()
    key_rows: dict[str, int] = {}  # this run's ledger keys -> their row numbers
    first_row_of: dict[str, int] = {}  # note id -> the row that first carried it
    duplicates = 0
    summary = Summary(labels=chosen.label_codes, non_billable=chosen.non_billable)
    conn = open_ledger(ledger) if ledger else open_ledger(":memory:")
    run_keys: set[str] = set()
    last_day: date | None = None
    trend: list[dict[str, Any]] = []
    clients_years: set[tuple[str, int]] = set()
    clients_days: set[tuple[str, str]] = set()
    model_version = ruleset_version = None
    try:
        for done, (p, outcome) in enumerate(
            score_stream(
                (prepare(r, services) for r in rows),
                jobs=jobs,
                chunk_size=chunk_size,
                model_dir=model_dir,
                profile=chosen.name,
            ),
            1,
        ):
            note_id = str_or_none(p.row.fields.get("note_id"))
            duplicate_of = first_row_of.setdefault(note_id, p.row.number) if note_id else None
            if duplicate_of == p.row.number:
                duplicate_of = None
            duplicates += duplicate_of is not None
            summary.add(p, outcome)
            key = client_year = client_day = None
            if isinstance(outcome, Scored):
                model_version = outcome.model_version
                record(conn, p, outcome, chosen)
                key = note_key(p)
                run_keys.add(key)
                key_rows.setdefault(key, p.row.number)
                if p.service_date and (last_day is None or p.service_date > last_day):
                    last_day = p.service_date
                client = str_or_none(p.row.fields.get("client_id"))
                if client and p.service_date:
                    clients_years.add((client, p.service_date.year))
                    clients_days.add((client, p.service_date.isoformat()))
                    client_year = f"{client}\x1f{p.service_date.year}"
                    client_day = f"{client}\x1f{p.service_date.isoformat()}"
            spool.add(output_row(p, outcome, duplicate_of), key, client_year, client_day)
            if done % DEFAULT_CHUNK == 0:
                conn.commit()  # a killed run keeps what it scored; a re-run replaces, not adds
            if progress:
                progress.update(done)
        conn.commit()
        findings = {
            "overlaps": find_overlaps(conn, run_keys),
            "caps": find_caps(conn, clients_years, chosen.name),
            "limits": find_limits(conn, clients_days, chosen.name),
        }
        by_key, by_client_year = finding_columns(findings, key_rows)
        repeated = find_repeated_claims(conn, run_keys)
        if last_day is not None:
            # Twelve weeks up to this run's last service date, from everything the ledger holds.
            trend = week_trend(
                conn, (last_day - timedelta(weeks=12)).isoformat(), last_day.isoformat()
            )
        by_client_period = limit_columns(findings["limits"])
        for key, client_year, client_day, row in spool.rows():
            row.update(by_key.get(key or "", {}))
            row["cap_status"] = by_client_year.get(client_year or "")
            row["limit_status"] = (
                "; ".join(
                    filter(
                        None,
                        (
                            by_client_period.get(client_day),
                            by_client_period.get(client_day[:-3]),  # the month
                        ),
                    )
                )
                or None
                if client_day
                else None
            )
            row["same_claim_as"] = ", ".join(repeated.get(key or "", [])) or None
            writer.write(row)
        writer.finish(findings)
    finally:
        conn.close()
        spool.close()
    for finding in findings["overlaps"]:
        del finding["note_keys"]  # ledger keys are for the rows' columns, not the summary
    if progress:
        progress.update(summary.rows, final=True)
    from notecheck.catalog import load_catalog

    ruleset_version = load_catalog(chosen.folder.joinpath("rules.toml")).version
    meta = {
        "input": path.name,
        "profile": chosen.name,
        "model_version": model_version,
        "ruleset_version": ruleset_version,
        "ledger": str(ledger) if ledger else None,
        "duplicate_note_ids": duplicates,
        "repeated_claims": len(repeated),
        "trend": trend,
        "finished_at": datetime.now().isoformat(timespec="seconds"),
    }
    return summary.to_dict(findings, meta)


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
        if args.encoding:
            codecs.lookup(args.encoding)
        summary_path = args.summary or (
            str(Path(args.report).with_suffix(".json")) if args.report else None
        )
        _check_outputs(path, args.out, args.report, summary_path)
        ledger = None if args.no_ledger else (args.ledger or default_ledger_path())
        if ledger:
            open_ledger(ledger).close()  # a damaged or newer ledger stops us before --out
    except LookupError:
        print(f"notecheck: unknown --encoding {args.encoding!r}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"notecheck: {exc}", file=sys.stderr)
        return 2
    suffix = Path(args.out).suffix.lower() if args.out else ""
    out_fmt = args.out_format or (
        "jsonl" if suffix in (".jsonl", ".ndjson") else "xlsx" if suffix == ".xlsx" else "csv"
    )
    if out_fmt == "xlsx" and not args.out:
        print("notecheck: an .xlsx output needs --out FILE", file=sys.stderr)
        return 2
    show = not args.quiet and sys.stderr.isatty()
    position = ReadPosition()
    size = path.stat().st_size if fmt in ("csv", "tsv", "jsonl") else None
    progress = Progress(size, sys.stderr, show, position)
    out_handle: Any
    if out_fmt == "xlsx":
        out_handle = private_file(args.out).open("wb")
    elif args.out:
        # With a BOM, Excel opens the CSV as UTF-8 instead of the machine's code page.
        out_handle = private_file(args.out).open(
            "w", encoding="utf-8-sig" if out_fmt == "csv" else "utf-8", newline=""
        )
    else:
        out_handle = io.TextIOWrapper(
            sys.stdout.buffer, encoding="utf-8", newline="", write_through=True
        )
    try:
        summary = run_batch(
            path,
            out_handle,
            fmt=fmt,
            out_fmt=out_fmt,
            mapping=mapping,
            encoding=args.encoding,
            sheet=args.sheet,
            jobs=args.jobs,
            ledger=ledger,
            model_dir=args.model_dir,
            profile=getattr(args, "profile", None),
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
    if summary_path:
        private_file(summary_path).write_text(
            json.dumps(summary, indent=2) + "\n", encoding="utf-8"
        )
    if args.report:
        private_file(args.report).write_text(render_report(summary), encoding="utf-8")
    print(
        f"notecheck: {summary['rows']} rows ({summary['ok']} scored, {summary['errors']} errors); "
        f"{summary['billed_code_mismatches']['count']} billed-code mismatches, "
        f"{summary['finding_counts']['overlaps']} overlaps, {summary['finding_counts']['caps']} cap warnings"
        + (
            f", {summary['finding_counts']['limits']} unit-limit findings"
            if summary["finding_counts"].get("limits")
            else ""
        ),
        file=sys.stderr,
    )
    ledger_used = summary.get("ledger")
    print(
        f"notecheck: ledger {ledger_used}" if ledger_used else "notecheck: no ledger kept",
        file=sys.stderr,
    )
    if summary["rows_read_as_windows_1252"]:
        print(
            f"notecheck: {summary['rows_read_as_windows_1252']} row(s) were not UTF-8 and were "
            "read as Windows-1252 (pass --encoding to say otherwise)",
            file=sys.stderr,
        )
    if summary["duplicate_note_ids"]:
        print(
            f"notecheck: {summary['duplicate_note_ids']} row(s) repeat an earlier row's note id "
            "(see duplicate_of)",
            file=sys.stderr,
        )
    if summary["errors"] and not args.allow_errors:
        print(
            f"notecheck: exit status 1: {summary['errors']} error row(s) "
            "(--allow-errors to accept them)",
            file=sys.stderr,
        )
        return 1
    return 0


def _check_outputs(path: Path, *outputs: str | None) -> None:
    """Refuse, before any work, an output that overwrites the input or another output.

    An output in a folder that does not exist is refused too (it used to fail after the ledger
    was written).
    """
    seen = {path.resolve(): "the input"}
    for output in outputs:
        if not output:
            continue
        target = Path(output).resolve()
        if target in seen:
            raise ValueError(f"{output} would overwrite {seen[target]}; choose another name")
        if not target.parent.is_dir():
            raise ValueError(f"no such folder for {output}: {target.parent}")
        seen[target] = output


def report_cli(args: argparse.Namespace) -> int:
    """``notecheck report``: the trend and per-staff totals of a ledger over a period."""
    from notecheck.batch.ledger import ledger_summary
    from notecheck.batch.prepare import FieldError, parse_date

    ledger = Path(args.ledger) if args.ledger else default_ledger_path()
    try:
        end = parse_date(args.end) or date.today()
        start = parse_date(args.start) or end - timedelta(weeks=12)
        if not ledger.is_file():
            raise ValueError(f"no ledger at {ledger}; run notecheck batch first")
        _check_outputs(ledger, args.out)
        conn = open_ledger(ledger)
    except (FieldError, ValueError) as exc:
        print(f"notecheck: {exc}", file=sys.stderr)
        return 2
    try:
        summary = ledger_summary(conn, start.isoformat(), end.isoformat())
    finally:
        conn.close()
    private_file(args.out).write_text(render_report(summary), encoding="utf-8")
    print(
        f"notecheck: {summary['rows']} notes from {start} to {end} in {len(summary['trend'])} "
        f"week(s); report {args.out}",
        file=sys.stderr,
    )
    return 0
