"""Each row's fields validated and parsed (dates, clock times, the note) before scoring."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from notecheck.batch.reading import Row
from notecheck.services import ServiceRules


class FieldError(ValueError):
    """A field that cannot be read; ``str()`` is ``"code: message"`` like the engine's errors."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")


# A date with a time after it ("2026-11-02 09:05", what a spreadsheet cell holds) is the date.
_DATE_TIME = re.compile(r"^(\S+)[ T]\d{1,2}:\d{2}(?::\d{2})?$")
# The time of such a value is the clock time.
_TIME_OF = re.compile(r"^\d{4}-\d{2}-\d{2}[ T](\d{1,2}:\d{2}(?::\d{2})?)$")
# "75", "75 min", "1h 15m", "1 hr 15 min", "1.5 h", "1:15"
_DURATION = re.compile(
    r"^(?:(?P<h>\d+(?:\.\d+)?)\s*(?:h|hr|hrs|hour|hours))?\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*(?:m|min|mins|minute|minutes)?)?$"
    r"|^(?P<ch>\d{1,2}):(?P<cm>[0-5]\d)$",
    re.IGNORECASE,
)


def parse_date(value: Any) -> date | None:
    """ISO ``2026-11-03``, US ``11/03/2026`` (a time after it is ignored); None for empty."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    with_time = _DATE_TIME.match(text)
    if with_time:
        text = with_time.group(1)
    for fmt in ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%Y/%m/%d", "%m-%d-%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise FieldError("invalid_date", "service_date is not a date (use YYYY-MM-DD or MM/DD/YYYY)")


def parse_clock(value: Any, name: str) -> int | None:
    """``14:05``, ``2:05 PM``, ``2pm``, ``2026-11-02 14:05`` -> minutes after midnight."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().lower().replace(".", "")
    of_datetime = _TIME_OF.match(text)
    if of_datetime:
        text = of_datetime.group(1)
    for fmt in ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M%p", "%I %p", "%I%p", "%I:%M:%S %p"):
        try:
            parsed = datetime.strptime(text, fmt)
            return parsed.hour * 60 + parsed.minute
        except ValueError:
            continue
    raise FieldError("invalid_time", f"{name} is not a time (use HH:MM or H:MM AM/PM)")


def parse_minutes(value: Any) -> Any:
    """A duration as minutes ("75", "75 min", "1h 15m", "1:15"); other values pass through.

    The engine validates the number; this only reads the ways exports write durations.
    """
    if not isinstance(value, str) or not value.strip():
        return value
    match = _DURATION.match(value.strip())
    if not match or not any(match.groupdict().values()):
        return value  # the engine says why it is not a number
    if match["ch"] is not None:
        return int(match["ch"]) * 60 + int(match["cm"])
    return float(match["h"] or 0) * 60 + float(match["m"] or 0)


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


def prepare(row: Row, services: ServiceRules | None = None) -> Prepared:
    """Validate one row's fields (never raises); ``services`` is the profile's (billed codes)."""
    if row.error:
        return Prepared(row, error=row.error)
    from notecheck.engine import InputError, validate_input

    f = row.fields
    try:
        service_date = parse_date(f.get("service_date"))
        start = parse_clock(f.get("start_time"), "start_time")
        end = parse_clock(f.get("end_time"), "end_time")
        if start is not None and end is not None and end <= start:
            raise FieldError("invalid_times", "end_time is not after start_time")
        text, billed_code, minutes, staff_level = validate_input(
            f.get("text"),
            f.get("billed_code"),
            parse_minutes(f.get("minutes")),
            f.get("staff_level"),
            services,
        )
    except InputError as exc:
        return Prepared(row, error=f"{exc.code}: {exc.message}")
    except FieldError as exc:
        return Prepared(row, error=str(exc))
    if minutes is None and start is not None and end is not None:
        minutes = float(end - start)
    if end is None and start is not None and minutes is not None:
        end = start + int(round(minutes))
    return Prepared(row, text, billed_code, minutes, staff_level, service_date, start, end)
