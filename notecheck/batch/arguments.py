"""The ``notecheck batch`` and ``notecheck report`` options.

Apart from the rest of the batch package, so that building the CLI's parser (``--help``,
``--version``) does not import the engine, scikit-learn or the ledger.
"""

from __future__ import annotations

import argparse

from notecheck.batch.reading import FIELDS, FORMATS

LEDGER_ENV = "NOTECHECK_LEDGER"


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``notecheck batch`` options."""
    parser.add_argument(
        "input", help="CSV, TSV, JSONL, JSON array or .xlsx export (format from the extension)"
    )
    parser.add_argument(
        "--out", help="output file (.csv, .jsonl or .xlsx); default: CSV on standard output"
    )
    parser.add_argument(
        "--out-format",
        choices=("csv", "jsonl", "xlsx"),
        help="output format (default: from --out's extension, else csv)",
    )
    parser.add_argument("--format", choices=FORMATS, help="input format override")
    parser.add_argument(
        "--encoding",
        help="text encoding of a CSV/TSV input (default: UTF-8, a row that is not UTF-8 is "
        "read as Windows-1252)",
    )
    parser.add_argument("--sheet", help="worksheet of an .xlsx input (default: the first)")
    parser.add_argument(
        "--allow-errors",
        action="store_true",
        help="exit 0 even when some rows are error rows (default: exit 1)",
    )
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


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``notecheck report`` options."""
    parser.add_argument("--out", required=True, help="write the HTML report here")
    parser.add_argument(
        "--ledger",
        help=f"the ledger to read (default: the per-user one, or ${LEDGER_ENV})",
    )
    parser.add_argument("--from", dest="start", help="first service date (default: 12 weeks ago)")
    parser.add_argument("--to", dest="end", help="last service date (default: today)")
