"""The SQLite ledger of scored notes: schema and migrations, keys, records, weekly trend."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

from notecheck.batch.arguments import LEDGER_ENV
from notecheck.batch.findings import find_caps
from notecheck.batch.prepare import Prepared
from notecheck.batch.score import Scored
from notecheck.labels import BILLABLE_LABELS, LABELS, NON_BILLABLE
from notecheck.profiles import DEFAULT_PROFILE, Profile, load_profile
from notecheck.services import default_service_rules


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


LEDGER_VERSION = 3  # PRAGMA user_version; open_ledger migrates older ledgers
LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    note_key        TEXT PRIMARY KEY,  -- client + note id, or a hash of the row's identity
    note_id         TEXT,
    client_id       TEXT,
    staff_id        TEXT,
    service_date    TEXT,              -- ISO yyyy-mm-dd
    year            INTEGER,
    start_min       INTEGER,           -- minutes after midnight
    end_min         INTEGER,
    minutes         REAL,              -- billed minutes from the export (caps count these)
    billed_code     TEXT,
    predicted_label TEXT,
    cap_code        TEXT,              -- billed code, else the predicted billable label
    scored_at       TEXT,
    profile         TEXT,              -- the rule profile that scored it (version 3)
    modifier        TEXT,              -- the service code modifier from the export (version 3)
    billable_minutes REAL              -- the note's billable minutes as read (version 3)
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


class LedgerError(ValueError):
    """The ledger cannot be used: damaged, not a ledger, newer than this version, or busy."""


def open_ledger(path: str | Path) -> sqlite3.Connection:
    """Open (creating it and its folder if needed) the SQLite ledger, owner-only.

    Another run on the same ledger is waited for (30 s) rather than failing at once; an older
    ledger is migrated; a damaged one raises ``LedgerError`` before anything is written.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private_file(path)
    try:
        conn = sqlite3.connect(str(path), timeout=30)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > LEDGER_VERSION:
            conn.close()
            raise LedgerError(
                f"ledger {path} was written by a newer notecheck (schema {version}); "
                "use that version or another --ledger"
            )
        existed = (
            version > 0
            or conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'notes'").fetchone()
        )
        conn.executescript(LEDGER_SCHEMA)
        if existed and version < 3:
            # Version 3 records the profile (every earlier row was scored under Illinois), the
            # export's modifier and the note's billable minutes, for per-profile limits.
            present = {row[1] for row in conn.execute("PRAGMA table_info(notes)")}
            for column, kind in (("profile", "TEXT"), ("modifier", "TEXT"),
                                 ("billable_minutes", "REAL")):  # fmt: skip
                if column not in present:
                    conn.execute(f"ALTER TABLE notes ADD COLUMN {column} {kind}")
            conn.execute("UPDATE notes SET profile = 'il132' WHERE profile IS NULL")
        if version < 2:
            # Version 1 keyed a note by its id alone: the same id at another site replaced it.
            conn.execute(
                "UPDATE OR REPLACE notes SET note_key = "
                "'id:' || COALESCE(client_id, '') || char(31) || note_id "
                "WHERE note_key LIKE 'id:%' AND note_id IS NOT NULL"
            )
        conn.execute(f"PRAGMA user_version = {LEDGER_VERSION}")
        conn.commit()
    except sqlite3.OperationalError as exc:
        raise LedgerError(f"ledger {path} is busy or unwritable ({exc})") from None
    except sqlite3.DatabaseError:
        raise LedgerError(
            f"ledger {path} is not a notecheck ledger or is damaged; move it aside or pass "
            "another --ledger"
        ) from None
    return conn


def note_key(p: Prepared) -> str:
    """The ledger key: the client and note id, else a hash of the row's identifying fields.

    The client is part of it because sites reuse note ids; the note text is not, so an edited
    note without an id replaces its earlier row instead of counting twice.
    """
    f = p.row.fields
    client = str(f.get("client_id") or "")
    note_id = f.get("note_id")
    if note_id not in (None, ""):
        return f"id:{client}\x1f{note_id}"
    parts = [client, *(str(f.get(k) or "") for k in ("staff_id", "billed_code"))]
    parts += [str(p.service_date), str(p.start_min), str(p.end_min)]
    return "h:" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def record(
    conn: sqlite3.Connection, p: Prepared, outcome: Scored, profile: Profile | None = None
) -> None:
    """Insert or replace the note's ledger row (idempotent per note key)."""
    profile = profile or load_profile(DEFAULT_PROFILE)
    label = outcome.label
    cap_code = p.billed_code or (label if label in profile.billable_labels else None)
    # Caps count what the export bills, never minutes read out of the note's words ("within
    # 24 hrs" once raised a false 49-hour cap).
    minutes = p.minutes
    f = p.row.fields
    conn.execute(
        "INSERT OR REPLACE INTO notes (note_key, note_id, client_id, staff_id, service_date, "
        "year, start_min, end_min, minutes, billed_code, predicted_label, cap_code, scored_at, "
        "profile, modifier, billable_minutes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
            profile.name,
            str_or_none(f.get("modifier")),
            outcome.billable_minutes,
        ),
    )


def caps_title() -> str:
    """The annual caps in force, e.g. "CM-MH + CS-IND 240 h"."""
    return "; ".join(f"{' + '.join(c.codes)} {c.hours:g} h" for c in default_service_rules().caps)


def str_or_none(value: Any) -> str | None:
    """An input field as text, or None when it is missing or empty."""
    return None if value is None or value == "" else str(value)


def week_trend(conn: sqlite3.Connection, start: str, end: str) -> list[dict[str, Any]]:
    """Notes per ISO week between ``start`` and ``end`` (ISO dates, inclusive) in the ledger.

    Each week: notes, how many the engine found NON-BILLABLE, that share, and the hours the
    export billed.
    """
    rows = conn.execute(
        """
        SELECT service_date, predicted_label, minutes FROM notes
        WHERE service_date IS NOT NULL AND service_date BETWEEN ? AND ?
        """,
        (start, end),
    )
    weeks: dict[str, list[float]] = {}
    for day, label, minutes in rows:
        year, week, _ = date.fromisoformat(day).isocalendar()
        entry = weeks.setdefault(f"{year}-W{week:02d}", [0, 0, 0.0])
        entry[0] += 1
        entry[1] += label == NON_BILLABLE
        entry[2] += minutes or 0.0
    return [
        {
            "week": week,
            "notes": int(n),
            "non_billable": int(nb),
            "share": round(nb / n, 4) if n else 0.0,
            "billed_hours": round(m / 60, 1),
        }
        for week, (n, nb, m) in sorted(weeks.items())
    ]


def ledger_summary(conn: sqlite3.Connection, start: str, end: str) -> dict[str, Any]:
    """A report's summary from the ledger alone, for service dates ``start``..``end``.

    The ledger keeps labels, codes and minutes, not each note's evidence: per-note reasons,
    units at risk and review lists come from a batch run's own report.
    """
    rows = conn.execute(
        "SELECT staff_id, billed_code, predicted_label, client_id, year FROM notes "
        "WHERE service_date BETWEEN ? AND ?",
        (start, end),
    ).fetchall()
    by_label = {label: 0 for label in LABELS}
    staff: dict[str, dict[str, Any]] = {}
    mismatches = 0
    for staff_id, billed, label, _, _ in rows:
        by_label[label] = by_label.get(label, 0) + 1
        entry = staff.setdefault(
            staff_id or "(none)",
            {"notes": 0, "errors": 0, "mismatches": 0, "non_billable": 0, "units_at_risk": 0,
             "time_split_unknown": 0},
        )  # fmt: skip
        entry["notes"] += 1
        entry["non_billable"] += label == NON_BILLABLE
        # The same comparison a batch run makes, on the classified codes it can judge.
        if billed in BILLABLE_LABELS and billed != label:
            entry["mismatches"] += 1
            mismatches += 1
    for entry in staff.values():
        entry["share_non_billable"] = round(entry["non_billable"] / max(entry["notes"], 1), 4)
    clients_years = {(client, year) for *_, client, year in rows if client and year}
    caps = find_caps(conn, clients_years)
    return {
        "input": f"ledger, service dates {start} to {end}",
        "model_version": "(as scored)",
        "ruleset_version": "(as scored)",
        "finished_at": datetime.now().isoformat(timespec="seconds"),
        "rows": len(rows),
        "ok": len(rows),
        "errors": 0,
        "errors_by_reason": {},
        "needs_review": 0,
        "needs_review_items": [],
        "by_label": by_label,
        "staff": dict(sorted(staff.items())),
        "units_at_risk": 0,
        "top_rules": [],
        "billed_code_mismatches": {"count": mismatches, "items": []},
        "overlaps": [],
        "caps": caps,
        "finding_counts": {"overlaps": 0, "caps": len(caps)},
        "trend": week_trend(conn, start, end),
    }
