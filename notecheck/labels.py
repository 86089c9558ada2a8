"""The five Illinois Rule 132 service codes, their order and the spellings users send.

Their names, definitions and citations are profile data: notecheck/profiles/il132/profile.toml.
"""

from __future__ import annotations

CM_MH = "CM-MH"
CS_IND = "CS-IND"
CM_TLA = "CM-TLA"
CM_CCC = "CM-CCC"
NON_BILLABLE = "NON-BILLABLE"

#: Fixed order used for probability vectors, model classes and reports.
LABELS: tuple[str, ...] = (CM_MH, CS_IND, CM_TLA, CM_CCC, NON_BILLABLE)
BILLABLE_LABELS: tuple[str, ...] = (CM_MH, CS_IND, CM_TLA, CM_CCC)


_ALIASES = {
    "CMMH": CM_MH,
    "CM-MENTAL HEALTH": CM_MH,
    "CSIND": CS_IND,
    "CS-INDIVIDUAL": CS_IND,
    "CSI": CS_IND,
    "CMTLA": CM_TLA,
    "CMCCC": CM_CCC,
    "NONBILLABLE": NON_BILLABLE,
    "NON BILLABLE": NON_BILLABLE,
}


def normalize_label(value: str) -> str:
    """Return the canonical code for ``value`` (case-insensitive, common aliases).

    Raises
    ------
    ValueError
        If ``value`` names no known service code.
    """
    key = value.strip().upper().replace("_", "-")
    if key in LABELS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown service code {value!r}; expected one of {', '.join(LABELS)}")
