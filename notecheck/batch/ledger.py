"""The SQLite ledger of scored notes, and the findings across notes it allows (overlaps, caps)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notecheck.batch.prepare import Prepared
from notecheck.labels import BILLABLE_LABELS, CM_CCC
from notecheck.services import default_service_rules

if TYPE_CHECKING:
    # The engine (spaCy, scikit-learn) loads when a batch runs, not when "notecheck --help"
    # builds its parser.
    pass

NEAR_CAP_SHARE = 0.9


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
            str_or_none(f.get("note_id")),
            str_or_none(f.get("client_id")),
            str_or_none(f.get("staff_id")),
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


def caps_title() -> str:
    """The annual caps in force, e.g. "CM-MH + CS-IND 240 h"."""
    return "; ".join(f"{' + '.join(c.codes)} {c.hours:g} h" for c in default_service_rules().caps)


def str_or_none(value: Any) -> str | None:
    """An input field as text, or None when it is missing or empty."""
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
