"""The five service codes notecheck can assign (Illinois Rule 132 case management)."""

from __future__ import annotations

from dataclasses import dataclass

CM_MH = "CM-MH"
CS_IND = "CS-IND"
CM_TLA = "CM-TLA"
CM_CCC = "CM-CCC"
NON_BILLABLE = "NON-BILLABLE"

#: Fixed order used for probability vectors, model classes and reports.
LABELS: tuple[str, ...] = (CM_MH, CS_IND, CM_TLA, CM_CCC, NON_BILLABLE)
BILLABLE_LABELS: tuple[str, ...] = (CM_MH, CS_IND, CM_TLA, CM_CCC)


@dataclass(frozen=True)
class LabelInfo:
    """A label's code, display name, one-line definition and seed anchors."""

    code: str
    name: str
    definition: str
    citation: str


LABEL_INFO: dict[str, LabelInfo] = {
    CM_MH: LabelInfo(
        CM_MH,
        "Case Management – Mental Health",
        "Staff do things for the client to reach services: linkage, referral, entitlement "
        "applications, prior authorizations, advocacy, securing appointments the client cannot.",
        "000_7327f7de9bed1889.txt#Q53, Q59, Q80, Q86-88",
    ),
    CS_IND: LabelInfo(
        CS_IND,
        "Community Support – Individual",
        "An active intervention with the client that builds the client's own capacity: coaching, "
        "prompting self-advocacy, practising a skill, supportive coping calls.",
        "000_7327f7de9bed1889.txt#Q4, Q19, Q28, Q49, Q51, Q53, Q59",
    ),
    CM_TLA: LabelInfo(
        CM_TLA,
        "Case Management – Transition Linkage and Aftercare",
        "A move from one living arrangement to another: discharge planning with facility staff, "
        "locating placement, pre-/post-placement visits, an aftercare plan.",
        "000_7327f7de9bed1889.txt#Q17, Q27, Q58, Q78, Q80",
    ),
    CM_CCC: LabelInfo(
        CM_CCC,
        "Case Management – Client Centered Consultation",
        "A professional consultation between current providers about the client's functioning, "
        "progress or treatment; not supervision, family, guardians or past providers.",
        "000_7327f7de9bed1889.txt#Q55, Q68, Q75-77, Q88",
    ),
    NON_BILLABLE: LabelInfo(
        NON_BILLABLE,
        "No billable service",
        "No billable case-management intervention is described (transport, voicemail, "
        "paperwork, errands, supervision, failed attempts, another Rule 132 service...).",
        "000_7327f7de9bed1889.txt#Q8, Q10, Q36; 003_8477259baaf409aa.txt#non-billable",
    ),
}

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
