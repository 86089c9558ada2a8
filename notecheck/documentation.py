"""Documentation checks an auditor applies to every note (time, units, goal, response...).

Units follow Rule 132 practice: 15-minute units, with the 7.5-minute half unit as the least
billable time (000 Q38). The CSC profile's 15-minute minimum (001 §2) is a different profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNIT_MINUTES = 15.0
HALF_UNIT_MINUTES = 7.5

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"

_MERIDIEM = r"(?:a\.?m\.?|p\.?m\.?)"
_RANGE_RE = re.compile(
    r"(?<![\d:])"
    rf"(?P<ah>\d{{1,2}})(?::(?P<amin>[0-5]\d))?\s*(?P<amer>{_MERIDIEM})?"
    r"\s*(?:-|–|—|to|until|till|thru)\s*"
    rf"(?P<bh>\d{{1,2}})(?::(?P<bmin>[0-5]\d))?\s*(?P<bmer>{_MERIDIEM})?"
    r"(?![\d:])",
    re.IGNORECASE,
)
_DURATION_RE = re.compile(
    r"(?<![\w.])(?P<num>\d+(?:\.\d+)?|an?|one|half an?)\s*"
    r"(?P<unit>hours?|hrs?|h\b|minutes?|mins?|units?)\b",
    re.IGNORECASE,
)
_GOAL_RE = re.compile(
    r"\b(goals?|objectives?|obj\b|itp|treatment plan|service plan|plan of care|care plan)",
    re.IGNORECASE,
)
_RESPONSE_RE = re.compile(
    r"\bresponse\s*:|\b(?:clt|client|pt|patient|member|consumer|youth|mbr)\b[^.\n]{0,60}?\b"
    r"(?:stated|states|reported|reports|agreed|agrees|verbalized|expressed|receptive|engaged|"
    r"declined|voiced|said|thanked|understood|tolerated|appeared|was able|responded|denied|"
    r"participated|identified|demonstrated|practiced|completed|asked|chose|signed)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Check:
    """One documentation check's outcome."""

    name: str
    status: str  # pass | fail | unknown
    detail: str


@dataclass(frozen=True)
class TimeInfo:
    """Minutes of service as stated or derived, and where they came from."""

    minutes: float | None
    source: str  # "argument", "start/stop times", "stated duration(s)", "none"
    has_start_stop: bool


def _to_minutes(hour: str, minute: str | None, meridiem: str | None) -> int | None:
    h, m = int(hour), int(minute or 0)
    if h > 23:
        return None
    if meridiem:
        if h > 12 or h == 0:
            return None
        h = h % 12 + (12 if meridiem.lower().startswith("p") else 0)
    return h * 60 + m


def find_time_range(text: str) -> tuple[int, int, int] | None:
    """The first start/stop range: ``(start_char, end_char, minutes)``, or None."""
    for match in _RANGE_RE.finditer(text):
        a_colon, b_colon = match["amin"] is not None, match["bmin"] is not None
        a_mer, b_mer = match["amer"], match["bmer"]
        # "3-4 times" is not a time: each side needs minutes or am/pm.
        if not ((a_colon or a_mer) and (b_colon or b_mer)):
            continue
        start = _to_minutes(match["ah"], match["amin"], a_mer or b_mer)
        end = _to_minutes(match["bh"], match["bmin"], b_mer)
        if start is None or end is None:
            continue
        if a_mer is None and b_mer is not None and start > end and start - 720 < end:
            start -= 720  # "11:30-12:15pm" read as late morning
        if end <= start and b_mer is None:
            end += 720  # "1:30-2:15" after noon with no am/pm: same half of the day
        duration = end - start
        if 0 < duration <= 720:
            return match.start(), match.end(), duration
    return None


def find_durations(text: str) -> list[tuple[int, int, float]]:
    """Stated durations ("30 min", "1.5 hrs", "2 units"): ``(start_char, end_char, minutes)``."""
    found = []
    for match in _DURATION_RE.finditer(text):
        raw, unit = match["num"].lower(), match["unit"].lower()
        if raw in ("a", "an", "one"):
            value = 1.0
        elif raw.startswith("half"):
            value = 0.5
        else:
            value = float(raw)
        if unit.startswith("h"):
            minutes = value * 60
        elif unit.startswith("u"):
            minutes = value * UNIT_MINUTES
        else:
            minutes = value
        if 0 < minutes <= 24 * 60:
            found.append((match.start(), match.end(), minutes))
    return found


def time_info(text: str, minutes: float | None = None) -> TimeInfo:
    """Minutes of service: the caller's value, else a start/stop range, else stated durations."""
    time_range = find_time_range(text)
    if minutes is not None:
        return TimeInfo(float(minutes), "argument", time_range is not None)
    if time_range is not None:
        return TimeInfo(float(time_range[2]), "start/stop times", True)
    durations = find_durations(text)
    if durations:
        return TimeInfo(float(sum(d[2] for d in durations)), "stated duration(s)", False)
    return TimeInfo(None, "none", False)


def billable_units(minutes: float) -> int:
    """15-minute units, rounding at the 7.5-minute half unit (7.4 min -> 0, 7.5 -> 1, 22.5 -> 2)."""
    whole, rest = divmod(minutes, UNIT_MINUTES)
    return int(whole) + (1 if rest >= HALF_UNIT_MINUTES else 0)


def run_checks(
    text: str, times: TimeInfo, *, intervention: str, intervention_detail: str
) -> list[Check]:
    """All documentation checks for one note; ``intervention`` is pass/fail/unknown."""
    checks = []
    if times.minutes is None:
        checks.append(Check("duration", FAIL, "No duration or start/stop times stated."))
        checks.append(Check("billable_unit", UNKNOWN, "Cannot count units without a duration."))
    else:
        checks.append(Check("duration", PASS, f"{times.minutes:g} minutes ({times.source})."))
        units = billable_units(times.minutes)
        if units >= 1:
            checks.append(Check("billable_unit", PASS, f"{units} fifteen-minute unit(s)."))
        else:
            checks.append(
                Check(
                    "billable_unit",
                    FAIL,
                    f"{times.minutes:g} minutes is under the 7.5-minute half unit (000 Q38).",
                )
            )
    checks.append(
        Check("start_stop_times", PASS, "Start and stop times stated.")
        if times.has_start_stop
        else Check("start_stop_times", FAIL, "No start/stop times (004 documentation (3)).")
    )
    checks.append(
        Check("goal_named", PASS, "A goal, objective or plan is named.")
        if _GOAL_RE.search(text)
        else Check(
            "goal_named",
            FAIL,
            "No goal or objective from the treatment plan is named (000 Q15; 004 (6)).",
        )
    )
    checks.append(
        Check("client_response", PASS, "The client's response is recorded.")
        if _RESPONSE_RE.search(text)
        else Check("client_response", FAIL, "The client's response is not recorded (004 (9)).")
    )
    checks.append(Check("intervention_described", intervention, intervention_detail))
    return checks
