"""Documentation checks an auditor applies to every note (time, units, goal, response...).

Units come from the note's time split (``notecheck.activities``): 15-minute units from the
billable minutes, with the 7.5-minute half unit as the least billable time (000 Q38). The CSC
profile's 15-minute minimum (001 §2) is a different profile.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from notecheck.profiles import UnitPolicy
from notecheck.result import CheckStatus, TimeBreakdown
from notecheck.seeds import short_citation

PASS: CheckStatus = "pass"
FAIL: CheckStatus = "fail"
UNKNOWN: CheckStatus = "unknown"

# The checks each rulebook asks of a note. Illinois asks for the service time and duration
# (000 Q38), case management tied to an ITP goal (000 Q9, Q15, Q82) and a described
# intervention. Start/stop times and a recorded client response are Oklahoma's documentation
# elements (004 (3), (9)); they belong to that profile, not to Illinois.
ILLINOIS_CHECKS = (
    "duration",
    "billable_unit",
    "goal_named",
    "intervention_described",
    "ccc_documented",  # only for a CM-CCC note (000 Q88)
)
# Where each check comes from, by default Illinois' (a profile's profile.toml overrides them).
ILLINOIS_SOURCES = {
    "duration": "000 Q38",
    "goal_named": "000 Q9, Q15",
    "start_stop_times": "004 documentation (3)",
    "client_response": "004 (9)",
    "ccc_documented": "000 Q88",
}
OKLAHOMA_CHECKS = (
    "duration",
    "billable_unit",
    "goal_named",
    "intervention_described",
    "start_stop_times",
    "client_response",
)

# The lookahead (the alternatives' first letters) lets the scan turn down most positions with
# one test (same matches, about twice as fast).
_GOAL_RE = re.compile(
    r"(?=[cgiopst])"
    r"\b(goals?|objectives?|obj\b|itp|treatment plan|service plan|plan of care|care plan)",
    re.IGNORECASE,
)
# 000 Q88: a CCC note names the professional consulted and the resulting recommendations.
_PROFESSIONAL_RE = re.compile(
    r"\b(?:dr\.?|doctor|psychiatrist|prescriber|physician|pcp|md|np|apn|aprn|nurse|rn|"
    r"therapist|counselor|clinician|psychologist|lcsw|lcpc|teacher|caseworker|case worker|"
    r"probation officer|po|social worker|sw|provider)\b",
    re.IGNORECASE,
)
_RECOMMENDATION_RE = re.compile(
    r"\brecs?\s*:|\b(?:recommend\w*|recs|advised|suggested|agreed|will (?:adjust|change|start|stop|add|"
    r"increase|decrease|refer|order|message|reassess|review|follow)|plan(?:s|ned)? to|"
    r"decided|opinion)\b",
    re.IGNORECASE,
)
_RESPONSE_RE = re.compile(
    r"\bresponse\s*:|\b(?:clt|client|pt|patient|member|consumer|youth|mbr)\b[^.\n]{0,60}?\b"
    r"(?:stated|states|reported|reports|agreed|agrees|verbalized|expressed|receptive|engaged|"
    r"declined|voiced|said|thanked|understood|tolerated|appeared|was able|responded|denied|"
    r"participated|identified|demonstrated|practiced|completed|asked|chose|signed)\b",
    re.IGNORECASE,
)


def _unit_name(units: UnitPolicy | None) -> str:
    minutes = 15.0 if units is None else units.unit_minutes
    return "fifteen-minute" if minutes == 15 else f"{minutes:g}-minute"


@dataclass(frozen=True)
class Check:
    """One documentation check's outcome."""

    name: str
    status: CheckStatus
    detail: str


def run_checks(
    text: str,
    time: TimeBreakdown,
    *,
    has_start_stop: bool,
    intervention: CheckStatus,
    intervention_detail: str,
    goal_missing: str | None = None,
    names: tuple[str, ...] = ILLINOIS_CHECKS,
    label: str | None = None,
    units: UnitPolicy | None = None,
    sources: Mapping[str, str] | None = None,
) -> list[Check]:
    """The documentation checks in ``names`` for one note.

    ``intervention`` is pass/fail/unknown; ``goal_missing`` is the reason when the note itself
    says its need has no ITP goal or objective (000 Q15).
    """
    cited = {**ILLINOIS_SOURCES, **(sources or {})}

    def cite(check: str) -> str:
        return f" ({cited[check]})" if cited.get(check) else ""

    checks = []
    if time.total_minutes is None:
        checks.append(
            Check("duration", FAIL, f"No service time or duration stated{cite('duration')}.")
        )
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
                f"{time.units_supported} {_unit_name(units)} unit(s) from "
                f"{time.billable_minutes:g} billable minutes.",
            )
        )
    elif time.split == "non-billable note":
        checks.append(
            Check("billable_unit", FAIL, "No billable minutes: the note supports no service.")
        )
    elif units is None or units.partial == "half-up":
        checks.append(
            Check(
                "billable_unit",
                FAIL,
                f"{time.billable_minutes or 0:g} billable minutes is under the "
                f"{(units.minimum_minutes if units else 7.5):g}-minute half unit "
                f"({short_citation(units.citations[0]) if units and units.citations else '000 Q38'}).",
            )
        )
    else:
        checks.append(
            Check(
                "billable_unit",
                FAIL,
                f"{time.billable_minutes or 0:g} billable minutes is under the "
                f"{units.minimum_minutes:g}-minute minimum"
                + (f" ({short_citation(units.citations[0])})." if units.citations else "."),
            )
        )
    checks.append(
        Check("start_stop_times", PASS, "Start and stop times stated.")
        if has_start_stop
        else Check("start_stop_times", FAIL, f"No start/stop times{cite('start_stop_times')}.")
    )
    if goal_missing:
        checks.append(Check("goal_named", FAIL, goal_missing))
    elif _GOAL_RE.search(text):
        checks.append(Check("goal_named", PASS, "A goal, objective or plan is named."))
    else:
        checks.append(
            Check(
                "goal_named",
                FAIL,
                f"No goal or objective from the treatment plan is named{cite('goal_named')}.",
            )
        )
    # The pattern searches are most of the cost: only for the checks ``names`` asks for.
    if "client_response" in names:
        checks.append(
            Check("client_response", PASS, "The client's response is recorded.")
            if _RESPONSE_RE.search(text)
            else Check(
                "client_response",
                FAIL,
                f"The client's response is not recorded{cite('client_response')}.",
            )
        )
    checks.append(Check("intervention_described", intervention, intervention_detail))
    if label == "CM-CCC" and "ccc_documented" in names:
        missing = [
            what
            for what, pattern in (
                ("the professional consulted", _PROFESSIONAL_RE),
                ("the resulting recommendation", _RECOMMENDATION_RE),
            )
            if not pattern.search(text)
        ]
        checks.append(
            Check(
                "ccc_documented",
                FAIL,
                f"A CCC note must name {' and '.join(missing)}{cite('ccc_documented')}.",
            )
            if missing
            else Check(
                "ccc_documented",
                PASS,
                "The professional consulted and the recommendation are named.",
            )
        )
    return [c for c in checks if c.name in names]
