"""A supervisor's week as an EHR exports it: 300 rows, EHR column names, Excel's habits.

Built from the labeled corpus (deterministic), with two deliberately bad rows: a date that does
not exist and an empty note.
"""

from __future__ import annotations

import csv
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

from notecheck.data import load_notes

HEADER = [
    "Note ID",
    "Client ID",
    "Staff Name",
    "Service Date",
    "Start Time",
    "Duration (min)",
    "Service Code",
    "Progress Note",
]
STAFF = ["Dana Ruiz", "Lee Park", "Ana Okafor", "Sam Whitfield", "Jo Brandt", "Kim Nguyen"]
BAD_ROWS = (57, 211)  # 1-based row numbers: a bad date, an empty note


def rows(n: int = 300, seed: int = 7) -> list[list[object]]:
    """``n`` export rows; dates are ``date`` and start times ``time`` objects."""
    rng = random.Random(seed)
    notes = [note for note in load_notes() if 40 <= len(note.text) <= 900]
    rng.shuffle(notes)
    out: list[list[object]] = []
    for i in range(n):
        note = notes[i % len(notes)]
        # Excel's typography: curly apostrophes and quotes, en dashes (all in Windows-1252).
        text = note.text.replace("'", "\u2019").replace(" - ", " \u2013 ")
        code = note.label if note.label != "NON-BILLABLE" else rng.choice(["CM-MH", "CS-IND"])
        day = date(2026, 11, 2) + timedelta(days=rng.randrange(19))
        start = time(8 + rng.randrange(8), rng.choice([0, 15, 30, 45]))
        duration = rng.choice(["15", "20", "30", "45", "60", "1h 15m"])
        out.append(
            [f"N{1000 + i}", f"C{rng.randrange(40):02d}", rng.choice(STAFF), day, start,
             duration, code, text]
        )  # fmt: skip
    for row, column, value in ((BAD_ROWS[0], 3, "13/45/2026"), (BAD_ROWS[1], 7, "")):
        if row <= n:
            out[row - 1][column] = value
    return out


def write_csv(path: Path, data: list[list[object]]) -> Path:
    """As Excel on Windows saves "CSV": Windows-1252, CRLF, US dates, 12-hour times."""

    def cell(value: object) -> object:
        if isinstance(value, date):
            return value.strftime("%m/%d/%Y")
        if isinstance(value, time):
            return datetime.combine(date(2026, 1, 1), value).strftime("%I:%M %p").lstrip("0")
        return value

    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows([cell(v) for v in row] for row in data)
    return path


def write_xlsx(path: Path, data: list[list[object]]) -> Path:
    """The same rows as a workbook, with real date and time cells."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in data:
        sheet.append(row)
    book.save(path)
    return path
