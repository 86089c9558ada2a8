"""``notecheck batch``: score a week's export, every row back, plus findings.

Streaming: rows are read (``reading``), validated (``prepare``), scored in chunks (``score``)
and written one by one (``run``), so memory stays flat whatever the file size. Findings across
notes (billed-code mismatches, time overlaps, annual caps) come from a SQLite ledger that keeps
history across runs (``ledger``); re-scoring a note id replaces its ledger row instead of
counting it twice. ``report`` renders the summary.
"""

from notecheck.batch.ledger import default_ledger_path
from notecheck.batch.reading import FIELDS
from notecheck.batch.report import render_report
from notecheck.batch.run import (
    Progress,
    add_batch_arguments,
    add_report_arguments,
    report_cli,
    run_batch,
    run_batch_cli,
)

__all__ = [
    "FIELDS",
    "Progress",
    "add_batch_arguments",
    "add_report_arguments",
    "default_ledger_path",
    "render_report",
    "report_cli",
    "run_batch",
    "run_batch_cli",
]
