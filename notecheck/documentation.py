"""Documentation checks an auditor applies to every note (time, units, goal, response...).

Units come from the note's time split (``notecheck.activities``): 15-minute units from the
billable minutes, with the 7.5-minute half unit as the least billable time (000 Q38). The CSC
profile's 15-minute minimum (001 §2) is a different profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from notecheck.result import TimeBreakdown

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"

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


def run_checks(
    text: str,
    time: TimeBreakdown,
    *,
    has_start_stop: bool,
    intervention: str,
    intervention_detail: str,
) -> list[Check]:
    """All documentation checks for one note; ``intervention`` is pass/fail/unknown."""
    checks = []
    if time.total_minutes is None:
        checks.append(Check("duration", FAIL, "No duration or start/stop times stated."))
    else:
        checks.append(
            Check("duration", PASS, f"{time.total_minutes:g} minutes ({time.total_source}).")
        )
    if time.units_supported is None:
        detail = (
            "Cannot count units without a duration."
            if time.total_minutes is None
            else "Cannot count units: the note does not say how its time split (see time)."
        )
        checks.append(Check("billable_unit", UNKNOWN, detail))
    elif time.units_supported >= 1:
        checks.append(
            Check(
                "billable_unit",
                PASS,
                f"{time.units_supported} fifteen-minute unit(s) from {time.billable_minutes:g} "
                "billable minutes.",
            )
        )
    elif time.split == "non-billable note":
        checks.append(
            Check("billable_unit", FAIL, "No billable minutes: the note supports no service.")
        )
    else:
        checks.append(
            Check(
                "billable_unit",
                FAIL,
                f"{time.billable_minutes or 0:g} billable minutes is under the 7.5-minute half "
                "unit (000 Q38).",
            )
        )
    checks.append(
        Check("start_stop_times", PASS, "Start and stop times stated.")
        if has_start_stop
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
