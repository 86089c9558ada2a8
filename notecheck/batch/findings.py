"""Findings across notes, from the ledger: overlaps (near-linear sweeps), caps, repeated claims.

Each finding cites the passage it comes from; ``finding_columns`` turns them into the per-row
``overlaps_with`` and ``cap_status`` columns.
"""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any

from notecheck.labels import CM_CCC
from notecheck.profiles import load_profile
from notecheck.services import default_service_rules

NEAR_CAP_SHARE = 0.9
MAX_LISTED_OVERLAPS = 20  # ids listed in a row's overlaps_with; the summary has every finding


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
    conn: sqlite3.Connection, clients_years: set[tuple[str, int]], profile: str = "il132"
) -> list[dict[str, Any]]:
    """Clients nearing or over the annual caps of ``rules/services.toml`` (000 Q46).

    A cap counts the hours of every service code under it: CM-TLA 40 h; CM-MH, CM-CCC and
    CM-LOCUS together 240 h. The caps are Illinois': only notes scored under ``il132`` count,
    and another profile has none (its limits are ``find_limits``').
    """
    if load_profile(profile).services_file is None:
        return []
    caps = default_service_rules().caps
    findings = []
    for client_id, year in sorted(clients_years):
        totals = dict(
            conn.execute(
                "SELECT cap_code, SUM(minutes) FROM notes WHERE client_id = ? AND year = ? "
                "AND minutes IS NOT NULL AND COALESCE(profile, 'il132') = ? GROUP BY cap_code",
                (client_id, year, profile),
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


def find_limits(
    conn: sqlite3.Connection, clients_dates: set[tuple[str, str]], profile_name: str
) -> list[dict[str, Any]]:
    """A profile's per-client limits over the ledger's notes of that profile.

    - daily and monthly unit limits (004: 16 units a day; 25 or 56 a month by modifier), units
      counted from each note's billed minutes under the profile's unit policy;
    - same-day combination (001 §2-3): billable notes of one client and day, each too short for
      a unit alone, whose minutes together reach the minimum, are reported as one claim.
    """
    profile = load_profile(profile_name)
    limits, units = profile.limits, profile.units
    if not (limits.daily_units or limits.monthly_units or limits.combine_same_day):
        return []
    citation = ", ".join(limits.citations)
    findings: list[dict[str, Any]] = []
    months = sorted({(client, day[:7]) for client, day in clients_dates})
    for client_id, day in sorted(clients_dates):
        rows = conn.execute(
            "SELECT note_id, minutes, billable_minutes, predicted_label FROM notes "
            "WHERE client_id = ? AND service_date = ? AND profile = ?",
            (client_id, day, profile.name),
        ).fetchall()
        if limits.daily_units:
            total = sum(units.units(m) for _, m, _, _ in rows if m)
            if total > limits.daily_units:
                findings.append(
                    _limit(
                        "daily_limit_exceeded", client_id, day, total, limits.daily_units,
                        citation, f"{total} units billed on {day}; the daily limit is "
                        f"{limits.daily_units}.",
                    )
                )  # fmt: skip
        if limits.combine_same_day:
            # A short note keeps its billable minutes though it is not billable alone; any
            # other non-billable note has none.
            short = [(note_id, b) for note_id, _, b, _ in rows if b and units.units(b) == 0]
            combined = sum(b for _, b in short)
            if len(short) > 1 and units.units(combined) > 0:
                names = ", ".join(str(n or "?") for n, _ in short)
                findings.append(
                    _limit(
                        "same_day_combined", client_id, day, units.units(combined), None,
                        citation, f"{len(short)} contacts on {day} ({names}), each under "
                        f"{units.minimum_minutes:g} minutes, add up to {combined:g} minutes: "
                        f"{units.units(combined)} unit(s) as one claim.",
                    )
                )  # fmt: skip
    for client_id, month in months:
        for modifier, limit in limits.monthly_units.items():
            minutes = [
                m
                for (m,) in conn.execute(
                    "SELECT minutes FROM notes WHERE client_id = ? AND service_date LIKE ? "
                    "AND profile = ? AND UPPER(COALESCE(modifier, '')) LIKE ?",
                    (client_id, f"{month}-%", profile.name, f"%{modifier.upper()}%"),
                )
                if m
            ]
            total = sum(units.units(m) for m in minutes)
            if total > limit:
                findings.append(
                    _limit(
                        "monthly_limit_exceeded", client_id, month, total, limit, citation,
                        f"{total} {modifier} units billed in {month}; the monthly limit is "
                        f"{limit}.",
                    )
                )  # fmt: skip
    return findings


def _limit(
    kind: str,
    client_id: str,
    period: str,
    units: int,
    limit: int | None,
    citation: str,
    message: str,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "client_id": client_id,
        "period": period,
        "units": units,
        "limit": limit,
        "citation": citation,
        "message": message,
    }


def limit_columns(limits: list[dict[str, Any]]) -> dict[str, str]:
    """``limit_status`` cells by client and period (a day, or a month "yyyy-mm")."""
    cells: dict[str, str] = {}
    for finding in limits:
        key = f"{finding['client_id']}\x1f{finding['period']}"
        text = f"{finding['kind']}: {finding['units']}" + (
            f" of {finding['limit']} units" if finding["limit"] else " unit(s)"
        )
        cells[key] = "; ".join(filter(None, [cells.get(key), text]))
    return cells


def finding_columns(
    findings: dict[str, list[dict[str, Any]]], key_rows: dict[str, int]
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The findings as row columns: ``overlaps_with`` by ledger key, ``cap_status`` by client-year.

    A client-year key is the client id and the year joined by the unit separator. A note is
    named by its id, else by its row in this run, else as an earlier note.
    """
    by_key: dict[str, dict[str, str]] = {}
    for finding in findings["overlaps"]:
        keys = finding["note_keys"]
        names = [
            note_id or (f"row {key_rows[k]}" if k in key_rows else "an earlier note")
            for k, note_id in zip(keys, finding["note_ids"], strict=True)
        ]
        for key in keys:
            others = [n for k, n in zip(keys, names, strict=True) if k != key]
            shown = ", ".join(others[:MAX_LISTED_OVERLAPS])
            if len(others) > MAX_LISTED_OVERLAPS:
                shown += f" and {len(others) - MAX_LISTED_OVERLAPS} more"
            cell = by_key.setdefault(key, {})
            cell["overlaps_with"] = "; ".join(
                filter(None, [cell.get("overlaps_with"), f"{finding['kind']}: {shown}"])
            )
    by_client_year: dict[str, str] = {}
    for cap in findings["caps"]:
        text = f"{cap['kind']}: {cap['service']} {cap['hours']:g} of {cap['cap_hours']:g} h"
        cell_key = f"{cap['client_id']}\x1f{cap['year']}"
        by_client_year[cell_key] = "; ".join(filter(None, [by_client_year.get(cell_key), text]))
    return by_key, by_client_year
