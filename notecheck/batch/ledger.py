"""The SQLite ledger of scored notes, and the findings across notes it allows (overlaps, caps)."""

from __future__ import annotations

import hashlib
import itertools
import os
import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

from notecheck.batch.prepare import Prepared
from notecheck.batch.score import Scored
from notecheck.labels import BILLABLE_LABELS, CM_CCC, LABELS, NON_BILLABLE
from notecheck.services import default_service_rules

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


LEDGER_VERSION = 2  # PRAGMA user_version; open_ledger migrates older ledgers
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
        conn.executescript(LEDGER_SCHEMA)
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


def record(conn: sqlite3.Connection, p: Prepared, outcome: Scored) -> None:
    """Insert or replace the note's ledger row (idempotent per note key)."""
    label = outcome.label
    cap_code = p.billed_code or (label if label in BILLABLE_LABELS else None)
    # Caps count what the export bills, never minutes read out of the note's words ("within
    # 24 hrs" once raised a false 49-hour cap).
    minutes = p.minutes
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


def _mark_run_keys(conn: sqlite3.Connection, keys: set[str]) -> None:
    """Put this run's ledger keys in a temporary table the finding queries join on."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS run_keys (k TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM run_keys")
    conn.executemany("INSERT OR IGNORE INTO run_keys VALUES (?)", ((k,) for k in keys))


_Q1 = "000_7327f7de9bed1889.txt#Q1"
_Q40_Q56 = "000_7327f7de9bed1889.txt#Q40, Q56"


def _clusters(rows: list[tuple[Any, ...]], start: int, end: int) -> list[list[tuple[Any, ...]]]:
    """Runs of rows (sorted by start) whose windows overlap in a chain: one sweep, linear.

    Two thousand notes of one client on one day are one finding, not a million pairs.
    """
    clusters: list[list[tuple[Any, ...]]] = []
    current: list[tuple[Any, ...]] = []
    reach = -1
    for row in rows:
        if current and row[start] < reach:
            current.append(row)
            reach = max(reach, row[end])
            continue
        if len(current) > 1:
            clusters.append(current)
        current, reach = [row], row[end]
    if len(current) > 1:
        clusters.append(current)
    return clusters


def _finding(kind: str, rows: list[tuple[Any, ...]], citation: str, message: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "note_keys": [r[0] for r in rows],  # for the rows' own columns; not in the summary
        "note_ids": [r[1] for r in rows],
        "client_id": " / ".join(dict.fromkeys(str(r[2]) for r in rows)),
        "service_date": rows[0][3],
        "staff_ids": list(dict.fromkeys(r[4] for r in rows)),
        "windows": [_window(r[5], r[6]) for r in rows],
        "citation": citation,
        "message": message,
    }


def _client_finding(rows: list[tuple[Any, ...]]) -> dict[str, Any] | None:
    """What one client's overlapping notes break, if anything."""
    ccc_staff = {r[4] for r in rows if r[7] == CM_CCC}
    direct = [r for r in rows if r[7] != CM_CCC]
    direct_staff = {r[4] for r in direct}
    if len(direct_staff) > 1:
        return _finding(
            "time_overlap", rows, _Q1, "Two staff billed the same client in overlapping time."
        )
    if len(ccc_staff) > 1:
        return _finding(
            "ccc_billed_twice",
            rows,
            _Q40_Q56,
            "The same consultation is billed as CM-CCC by two staff; only one may bill it.",
        )
    if len(direct) > 1:
        return _finding(
            "staff_overlap",
            rows,
            _Q1,
            "One staff member billed the same client twice in overlapping time.",
        )
    # One staff member's CCC during another's direct service to the client is allowed (Q56).
    return None


def find_overlaps(conn: sqlite3.Connection, keys: set[str]) -> list[dict[str, Any]]:
    """Overlapping windows on the client-days and staff-days this run touched.

    Kinds: different staff on one client (000 Q1), one consultation billed CM-CCC by two staff
    (Q40, Q56), one staff member twice on one client, and one staff member with two clients at
    once. A consultation during another staff member's direct service is allowed (Q56).
    """
    if not keys:
        return []
    _mark_run_keys(conn, keys)
    columns = "note_key, note_id, client_id, service_date, staff_id, start_min, end_min, cap_code"
    timed = "start_min IS NOT NULL AND end_min IS NOT NULL AND service_date IS NOT NULL"
    findings: list[dict[str, Any]] = []
    for group, order in (("client_id", "client_id"), ("staff_id", "staff_id")):
        rows = conn.execute(
            f"""
            SELECT {columns} FROM notes
            WHERE {timed} AND {group} IS NOT NULL AND ({group}, service_date) IN (
                SELECT {group}, service_date FROM notes WHERE note_key IN (SELECT k FROM run_keys)
            )
            ORDER BY {order}, service_date, start_min, note_key
            """  # noqa: S608 - the interpolated names are this function's constants
        ).fetchall()
        index = 2 if group == "client_id" else 4
        for _, day_rows in itertools.groupby(rows, key=lambda r: (r[index], r[3])):
            for cluster in _clusters(list(day_rows), 5, 6):
                if group == "client_id":
                    finding = _client_finding(cluster)
                elif len({r[2] for r in cluster}) > 1:
                    finding = _finding(
                        "staff_two_clients",
                        cluster,
                        _Q1,
                        "One staff member billed two clients in overlapping time.",
                    )
                else:
                    finding = None  # the same client: reported with the client's notes
                if finding:
                    findings.append(finding)
    return findings


def find_repeated_claims(conn: sqlite3.Connection, keys: set[str]) -> dict[str, list[str]]:
    """Notes of this run that repeat another note's claim: a duplicate bill.

    Same client, staff, date, start time and billed code under another key (another id, or an
    earlier run's export). Returns ledger key -> the other notes' ids ("(no id)" for none).
    """
    if not keys:
        return {}
    _mark_run_keys(conn, keys)
    repeated: dict[str, list[str]] = {}
    for key, other in conn.execute(
        """
        SELECT a.note_key, COALESCE(b.note_id, '(no id)') FROM notes a JOIN notes b
          ON a.client_id = b.client_id AND a.service_date = b.service_date
         AND a.start_min = b.start_min AND a.staff_id IS b.staff_id
         AND a.billed_code IS b.billed_code AND a.note_key <> b.note_key
        WHERE a.note_key IN (SELECT k FROM run_keys) AND a.client_id IS NOT NULL
        ORDER BY a.note_key, b.note_id
        """
    ):
        repeated.setdefault(key, []).append(other)
    return repeated


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
