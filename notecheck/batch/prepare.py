"""Each row's fields validated and parsed (dates, clock times, the note) before scoring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from notecheck.batch.reading import Row

if TYPE_CHECKING:
    # The engine (spaCy, scikit-learn) loads when a batch runs, not when "notecheck --help"
    # builds its parser.
    pass

# ------------------------------------------------------------------------------ field parsing


def parse_date(value: Any) -> date | None:
    """ISO ``2026-11-03`` or US ``11/03/2026``; None for empty; ValueError for garbage."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError("service_date is not a date (use YYYY-MM-DD or MM/DD/YYYY)")


def parse_clock(value: Any, name: str) -> int | None:
    """``14:05``, ``2:05 PM``, ``2pm`` -> minutes after midnight; None for empty."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().lower().replace(".", "")
    for fmt in ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p", "%I %p", "%I%p"):
        try:
            parsed = datetime.strptime(text, fmt)
            return parsed.hour * 60 + parsed.minute
        except ValueError:
            continue
    raise ValueError(f"{name} is not a time (use HH:MM or H:MM AM/PM)")


@dataclass
class Prepared:
    """A row ready for scoring, or the reason it is an error row."""

    row: Row
    text: str | None = None
    billed_code: str | None = None
    minutes: float | None = None
    staff_level: str | None = None
    service_date: date | None = None
    start_min: int | None = None
    end_min: int | None = None
    error: str | None = None


def prepare(row: Row) -> Prepared:
    """Validate one row's fields (never raises)."""
    if row.error:
        return Prepared(row, error=row.error)
    from notecheck.engine import InputError, validate_input

    f = row.fields
    try:
        service_date = parse_date(f.get("service_date"))
        start = parse_clock(f.get("start_time"), "start_time")
        end = parse_clock(f.get("end_time"), "end_time")
        if start is not None and end is not None and end <= start:
            raise ValueError("end_time is not after start_time")
        text, billed_code, minutes, staff_level = validate_input(
            f.get("text"), f.get("billed_code"), f.get("minutes"), f.get("staff_level")
        )
    except InputError as exc:
        return Prepared(row, error=f"{exc.code}: {exc.message}")
    except ValueError as exc:
        return Prepared(row, error=str(exc))
    if minutes is None and start is not None and end is not None:
        minutes = float(end - start)
    if end is None and start is not None and minutes is not None:
        end = start + int(round(minutes))
    return Prepared(row, text, billed_code, minutes, staff_level, service_date, start, end)
