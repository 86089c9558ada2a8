"""Request and response schemas of the HTTP API; the result itself is the library's dataclasses."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    field_validator,
)

from notecheck.engine import MAX_MINUTES
from notecheck.profiles import load_profile, profile_names

# The result contract's dataclasses serve as the response schema directly (one declaration).
from notecheck.result import (
    Activity,
    DocumentationCheck,
    Evidence,
    RuleFired,
    Section,
    TimeBreakdown,
)

# Every label and profile name the shipped profiles define, as enums in the OpenAPI schema.
_ALL_LABELS = list(dict.fromkeys(c for n in profile_names() for c in load_profile(n).label_codes))
LabelCode = Annotated[str, Field(json_schema_extra={"enum": _ALL_LABELS})]
ProfileName = Annotated[str, Field(json_schema_extra={"enum": list(profile_names())})]


class CheckRequest(BaseModel):
    """One note to check."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"text": "CM left VM for clt's PCP re: appt", "billed_code": "CM-MH"}]
        },
    )

    text: StrictStr = Field(description="The progress note (plain UTF-8 text).")
    billed_code: StrictStr | None = Field(
        None,
        description="The code the note was billed as: CM-MH, CS-IND, CM-TLA, CM-CCC, or CM-LOCUS "
        "(accepted and counted toward its cap, not judged from the note).",
    )
    minutes: Annotated[float, Field(strict=True, gt=0, le=MAX_MINUTES)] | None = Field(
        None, description="Minutes billed, when the note does not state them."
    )
    staff_level: StrictStr | None = Field(
        None,
        max_length=80,
        description="The writer's Rule 132 staff level (RSA, MHP, QMHP, LPHA): adds the "
        "staff_qualified check (000 Q61: CM-TLA needs at least an MHP).",
    )
    note_id: StrictStr | None = Field(None, max_length=200, description="Echoed back as given.")
    profile: StrictStr | None = Field(
        None,
        max_length=40,
        description="Rule profile (GET /v1/profiles): il132 (default, or the server's "
        "NOTECHECK_PROFILE), ok-t1017, ca-sf-tcm, ca-la-sapc, csc. Labels and billed codes are "
        "that profile's.",
    )

    @field_validator("note_id")
    @classmethod
    def _echoable(cls, value: str | None) -> str | None:
        # A lone surrogate ("\ud800" in the JSON) cannot be written back as UTF-8.
        if value is not None and not is_utf8(value):
            raise ValueError("note_id must be valid Unicode text")
        return value


def is_utf8(value: str) -> bool:
    """Whether ``value`` can be written as UTF-8 (no lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class BatchRequest(BaseModel):
    """Several notes; each item has the fields of ``CheckRequest``."""

    model_config = ConfigDict(extra="forbid")

    profile: StrictStr | None = Field(
        None, max_length=40, description="Rule profile for every item that names none."
    )
    notes: list[Any] = Field(
        min_length=1,
        description="Items shaped like CheckRequest; a bad item gets an error entry in its place.",
    )


class ErrorBody(BaseModel):
    """The error detail."""

    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every error response has this shape."""

    error: ErrorBody


class ModelTermOut(BaseModel):
    """A model feature that pushed toward the label."""

    term: str
    kind: str
    weight: float


class CheckResponse(BaseModel):
    """The result contract for one note."""

    contract_version: str
    note_id: str | None = None
    label: LabelCode
    display_name: str
    probabilities: dict[str, float]
    confidence: float
    needs_review: bool
    review_reasons: list[str]
    evidence: list[Evidence]
    rules_fired: list[RuleFired]
    documentation: list[DocumentationCheck]
    hints: list[str]
    sections: list[Section]
    activities: list[Activity]
    time: TimeBreakdown | None
    minutes: float | None
    units: int | None
    billed_code: str | None
    billed_code_matches: bool | None
    profile: ProfileName
    model_version: str
    ruleset_version: str
    model_terms: list[ModelTermOut]
    rules_vote: LabelCode | None
    decided_by: Literal["model", "rules"]


class BatchItemError(BaseModel):
    """A note of a batch that could not be checked."""

    note_id: str | None = None
    index: int
    error: ErrorBody


class BatchResponse(BaseModel):
    """Results in request order; a bad note has an error entry in its place."""

    results: list[CheckResponse | BatchItemError]
    profile: str
    model_version: str
    ruleset_version: str


class LabelOut(BaseModel):
    """A service code."""

    code: str
    name: str
    definition: str
    citation: str


class ProfileOut(BaseModel):
    """A rule profile: one jurisdiction's rulebook."""

    name: str
    title: str
    jurisdiction: str
    default: bool
    sources: list[str]
    labels: list[dict[str, Any]]
    unit_minutes: float
    minimum_minutes: float
    model: str
    documentation_checks: list[str]
    not_covered: list[str]


class RuleOut(BaseModel):
    """A catalog rule."""

    id: str
    title: str
    effect: str
    label: str | None
    service: str | None
    citations: list[str]
    explanation: str
    discounted_by: list[str]
    enabled: bool


class RulesResponse(BaseModel):
    """The rule catalog."""

    profile: str
    version: str
    rules: list[RuleOut]


class Health(BaseModel):
    """Liveness / readiness."""

    status: str
    model_version: str | None = None
    ruleset_version: str | None = None


#: Every field name a request may carry: safe to name in an error message.
SCHEMA_FIELDS = frozenset(CheckRequest.model_fields) | frozenset(BatchRequest.model_fields)
