"""``notecheck batch``: score a week's export, every row back, plus findings.

Streaming: rows are read (``reading``), validated (``prepare``), scored in chunks (``score``)
and written one by one (``run``), so memory stays flat whatever the file size. Findings across
notes (billed-code mismatches, time overlaps, annual caps) come from a SQLite ledger that keeps
history across runs (``ledger``); re-scoring a note id replaces its ledger row instead of
counting it twice. ``report`` renders the summary.
"""

from __future__ import annotations

import importlib
from typing import Any

# Imported on first use (PEP 562): ``notecheck --help`` needs only the options
# (``notecheck.batch.arguments``), not the ledger, the findings or the engine.
_WHERE = {
    "FIELDS": "notecheck.batch.reading",
    "Progress": "notecheck.batch.run",
    "add_batch_arguments": "notecheck.batch.arguments",
    "add_report_arguments": "notecheck.batch.arguments",
    "default_ledger_path": "notecheck.batch.ledger",
    "render_report": "notecheck.batch.report",
    "report_cli": "notecheck.batch.run",
    "run_batch": "notecheck.batch.run",
    "run_batch_cli": "notecheck.batch.run",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'notecheck.batch' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
